"""Serving the built tag: precompressed when the client accepts it, with the right
types, and cached as long as each asset's name allows.

- ``rtp-ID.zip``-style names carry a content hash, and ``rt-KEY/NAME`` is the runtime
  file ``NAME`` of the build whose runtime key (``layout.runtime_key``) is ``KEY``:
  both are immutable, cached for a year. The last builds' packages and runtimes stay
  (``layout.BUILDS``), so a page holding an older ``rtp.js`` still boots; an unknown
  ``KEY`` answers 404 rather than another build's file under a name cached for a year.
- ``rtp.js`` and every other fixed name: five minutes, so a new build reaches pages soon.
- ``NAME.br`` / ``NAME.gz`` written by the build are sent, with ``Content-Encoding``,
  to clients that accept them; others get ``NAME`` itself, or, where an installed
  wheel keeps a single copy and no ``NAME``, that copy decoded.
"""

from __future__ import annotations

import functools
import gzip
import json
import mimetypes
import os
import stat
from email.utils import formatdate
from pathlib import Path

import anyio.to_thread
import brotli
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import Scope

from ..layout import ENCODINGS, HASHED_NAME, MANIFEST, RUNTIME_DIR, SHIPPED_RUNTIME, runtime_key

IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=300"
PAGE = "no-cache"

mimetypes.add_type("application/wasm", ".wasm")
mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("text/javascript", ".js")


def accepted_encodings(header: str) -> set[str]:
    """The codings an ``Accept-Encoding`` header allows (``q=0`` excludes one)."""
    accepted = set()
    for item in header.split(","):
        coding, _, params = item.strip().partition(";")
        quality = params.strip().removeprefix("q=").strip() if params.strip().startswith("q=") else "1"
        try:
            if float(quality) > 0:
                accepted.add(coding.strip().lower())
        except ValueError:
            continue
    return accepted


class Assets(StaticFiles):
    """``dist/`` as an ASGI app."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory=directory, html=True)
        self._manifest = Path(directory) / MANIFEST
        self._key: tuple[float, str | None] = (-1.0, None)

    def _runtime_key(self) -> str | None:
        """The served build's runtime key, reread when the manifest changes."""
        try:
            changed = self._manifest.stat().st_mtime
        except OSError:
            return None
        if changed != self._key[0]:
            try:
                key = runtime_key(json.loads(self._manifest.read_text()))
            except (OSError, ValueError, KeyError, TypeError):
                key = None
            self._key = (changed, key)
        return self._key[1]

    async def get_response(self, path: str, scope: Scope) -> Response:
        """The asset at ``path``; a missing one is answered here, as a response, so that the
        CORS wrapper around these files marks it too and the loader can read the 404."""
        try:
            return await self._asset(path, scope)
        except HTTPException as problem:
            return PlainTextResponse(problem.detail, status_code=problem.status_code, headers=problem.headers)

    async def _asset(self, path: str, scope: Scope) -> Response:
        name = path.replace(os.sep, "/")
        immutable = bool(HASHED_NAME.search(name))
        runtime = RUNTIME_DIR.match(name)
        if runtime:
            if runtime[2] not in SHIPPED_RUNTIME:
                raise HTTPException(status_code=404)
            if runtime[1] == self._runtime_key():
                name = runtime[2]
            # else an older build's runtime, which the build keeps in rt-KEY/ (kept_builds), or a 404
            immutable = True
        response = await self._precompressed(name, scope) or await super().get_response(name, scope)
        if response.status_code in (200, 206, 304):
            is_page = response.headers.get("content-type", "").startswith("text/html")
            response.headers["Cache-Control"] = IMMUTABLE if immutable else PAGE if is_page else SHORT
            response.headers["Vary"] = "Accept-Encoding"
            response.headers["Timing-Allow-Origin"] = "*"  # lets sites' own monitoring see our sizes
        return response

    async def _precompressed(self, name: str, scope: Scope) -> Response | None:
        """``name`` as its precompressed copy the client accepts; when there is none and no
        plain ``name`` either (an installed wheel keeps one copy of each asset), the copy
        there is, decoded (browsers accept brotli, even over plain HTTP to 127.0.0.1:
        only other clients come here, and decoding is cheap where encoding is not)."""
        if scope["method"] not in ("GET", "HEAD"):
            return None
        headers = Headers(scope=scope)
        accepted = accepted_encodings(headers.get("accept-encoding", ""))
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        for coding, suffix in ENCODINGS:
            found = await self._file(name + suffix) if coding in accepted else None
            if found is not None:
                response: Response = FileResponse(found[0], stat_result=found[1], media_type=kind)
                if self.is_not_modified(response.headers, headers):
                    return NotModifiedResponse(response.headers)
                response.headers["Content-Encoding"] = coding
                return response
        if await self._file(name) is not None:
            return None
        for _, suffix in ENCODINGS:
            found = await self._file(name + suffix)
            if found is not None:
                path, status = found
                body = await anyio.to_thread.run_sync(decoded, path, suffix, status.st_mtime_ns)
                response = Response(body, media_type=kind, headers={
                    "ETag": f'"{status.st_mtime_ns:x}-{status.st_size:x}-decoded"',
                    "Last-Modified": formatdate(status.st_mtime, usegmt=True),
                })
                if self.is_not_modified(response.headers, headers):
                    return NotModifiedResponse(response.headers)
                return response
        return None

    async def _file(self, name: str) -> tuple[str, os.stat_result] | None:
        """The path and status of the regular file ``name`` under the directory, if any."""
        try:
            full_path, found = await anyio.to_thread.run_sync(self.lookup_path, name)
        except (OSError, ValueError):
            return None
        if found is None or not stat.S_ISREG(found.st_mode):
            return None
        return full_path, found


@functools.lru_cache(maxsize=8)
def decoded(path: str, suffix: str, changed: int) -> bytes:
    """The file ``path``, encoded as its ``suffix`` says, decoded; kept for the few
    assets there are (``changed`` is its mtime: a new build is read afresh)."""
    data = Path(path).read_bytes()
    return brotli.decompress(data) if suffix == ".br" else gzip.decompress(data)
