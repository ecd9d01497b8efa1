"""Serving the built tag: precompressed when the client accepts it, with the right
types, and cached as long as each asset's name allows.

- ``rtp-ID.zip``-style names carry a content hash, and ``rt-KEY/NAME`` is the runtime
  file ``NAME`` of the build whose runtime key (``build.runtime_key``) is ``KEY``:
  both are immutable, cached for a year. A stale ``KEY`` answers 404 rather than
  another build's file under a name cached for a year.
- ``rtp.js`` and every other fixed name: five minutes, so a new build reaches pages soon.
- ``NAME.br`` / ``NAME.gz`` written by the build are sent, with ``Content-Encoding``,
  to clients that accept them; others get ``NAME`` itself.
"""

from __future__ import annotations

import json
import mimetypes
import os
import re
import stat
from pathlib import Path

import anyio.to_thread
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, Response
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import Scope

from ..build import RUNTIME_DIR, SHIPPED_RUNTIME, runtime_key

IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=300"
PAGE = "no-cache"
ENCODINGS = (("br", ".br"), ("gzip", ".gz"))
"""Preferred first: brotli is about a fifth smaller than gzip on the runtime."""
HASHED_NAME = re.compile(r"-[0-9a-f]{12}\.[a-z]+$")

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
        self._manifest = Path(directory) / "manifest.json"
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
        name = path.replace(os.sep, "/")
        immutable = bool(HASHED_NAME.search(name))
        runtime = RUNTIME_DIR.match(name)
        if runtime:
            if runtime[2] not in SHIPPED_RUNTIME or runtime[1] != self._runtime_key():
                raise HTTPException(status_code=404)
            name, immutable = runtime[2], True
        response = await self._precompressed(name, scope) or await super().get_response(name, scope)
        if response.status_code in (200, 206, 304):
            is_page = response.headers.get("content-type", "").startswith("text/html")
            response.headers["Cache-Control"] = IMMUTABLE if immutable else PAGE if is_page else SHORT
            response.headers["Vary"] = "Accept-Encoding"
            response.headers["Timing-Allow-Origin"] = "*"  # lets sites' own monitoring see our sizes
        return response

    async def _precompressed(self, name: str, scope: Scope) -> Response | None:
        if scope["method"] not in ("GET", "HEAD"):
            return None
        headers = Headers(scope=scope)
        accepted = accepted_encodings(headers.get("accept-encoding", ""))
        for coding, suffix in ENCODINGS:
            if coding not in accepted:
                continue
            try:
                full_path, found = await anyio.to_thread.run_sync(self.lookup_path, name + suffix)
            except (OSError, ValueError):
                return None
            if found is None or not stat.S_ISREG(found.st_mode):
                continue
            kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
            response = FileResponse(full_path, stat_result=found, media_type=kind)
            if self.is_not_modified(response.headers, headers):
                return NotModifiedResponse(response.headers)
            response.headers["Content-Encoding"] = coding
            return response
        return None
