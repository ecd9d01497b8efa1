"""Where the built tag lives and how its files are named: the contract between the
build (``rtp_tag/build.py``, the wheel's build hook) and the server
(``rtp_tag/collector/``), which imports this module and never the build.

A built tag is a directory (``dist/`` in a checkout, ``rtp_tag/dist/`` inside an
installed wheel) holding the loader ``rtp.js``, the runtime files, our package zip,
``manifest.json`` (each asset's size and integrity hash) and the demo site. Each
compressible asset may have ``NAME.br`` / ``NAME.gz`` siblings; an installed wheel
keeps only one of them (no ``NAME`` at all) and the server decodes it for clients
that do not accept it.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
PACKAGED_DIST = PACKAGE / "dist"
"""The built tag inside an installed wheel (written there by the wheel's build hook)."""
CHECKOUT_DIST = PACKAGE.parent / "dist"
"""The built tag of the checkout this package runs from (an editable install)."""
DIST_ENV = "RTP_TAG_DIST"
"""Environment variable naming the built tag to serve (like ``rtp-tag serve --dist``)."""
LOADER = "rtp.js"
MANIFEST = "manifest.json"
"""``{NAME: {"bytes": ..., "integrity": "sha384-..."}}`` for every asset (not its siblings)."""
SOURCES_STAMP = "sources.sha256"
"""The hash of the build's inputs (``build.sources_hash``): the wheel's build hook reuses a
``dist/`` whose stamp matches the checkout instead of building again."""
ENCODINGS = (("br", ".br"), ("gzip", ".gz"))
"""``Content-Encoding`` and file suffix of the precompressed siblings, preferred first:
brotli is about a fifth smaller than gzip on the runtime."""
COMPRESSIBLE = (".js", ".mjs", ".wasm", ".zip", ".json", ".html", ".css")
"""Assets worth precompressing (the others are images or already compressed)."""
SHIPPED_RUNTIME = ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip")
"""The runtime files the loader fetches, under ``rt-KEY/`` (see ``runtime_key``)."""
RUNTIME_DIR = re.compile(r"^rt-([0-9a-f]{12})/([^/]+)$")
"""``rt-KEY/NAME``: the runtime file NAME of the build whose runtime key is KEY."""
HASHED_NAME = re.compile(r"-[0-9a-f]{12}\.[a-z]+$")
BUILDS = "builds.json"
"""``[{"runtime": KEY, "package": NAME}, ...]``, newest first: the builds whose runtime
(``rt-KEY/``) and package files this directory still serves, so a page holding an
older ``rtp.js`` (cached for minutes, longer behind a CDN) still boots after a rebuild.
The newest build's runtime files are at the top level; older keys' in ``rt-KEY/``."""
KEPT_BUILDS = 3
"""How many builds' runtime and package files a rebuild keeps served, the new one included."""
"""Names carrying a content hash (``rtp_tag-0123456789ab.zip``): immutable."""


class NoBuiltTag(LookupError):
    """No directory holding a built tag where one was looked for; the message says what to do."""


def runtime_dir(key: str) -> str:
    """The URL directory (relative to the tag) of the runtime whose key is ``key``."""
    return f"rt-{key}/"


def runtime_key(manifest: Mapping[str, Mapping[str, object]]) -> str | None:
    """The content key of the shipped runtime files, from their integrity hashes;
    None when the manifest lacks one of them."""
    if any(name not in manifest for name in SHIPPED_RUNTIME):
        return None
    listed = "".join(f"{name} {manifest[name]['integrity']}\n" for name in SHIPPED_RUNTIME)
    return hashlib.sha256(listed.encode()).hexdigest()[:12]


def has_tag(directory: Path) -> bool:
    """Whether ``directory`` holds a built tag (its loader, plain or precompressed)."""
    return any((directory / (LOADER + suffix)).is_file() for suffix in ("", *(s for _, s in ENCODINGS)))


def find_dist(explicit: str | os.PathLike[str] | None = None, cwd: Path | None = None) -> Path:
    """The built tag to serve: ``explicit`` (``--dist`` or ``RTP_TAG_DIST``) when given,
    else ``./dist`` (a checkout), else the one inside the installed package, else the
    checkout's ``dist/`` next to an editable install. Raises NoBuiltTag."""
    if explicit is not None and str(explicit) != "":
        chosen = Path(explicit).resolve()
        if not has_tag(chosen):
            raise NoBuiltTag(
                f"no built tag in {chosen}: pass --dist (or {DIST_ENV}) a directory that `rtp-tag build` "
                "wrote, or leave both out to serve the tag inside the installed package"
            )
        return chosen
    candidates = ((cwd or Path.cwd()) / "dist", PACKAGED_DIST, CHECKOUT_DIST)
    for candidate in candidates:
        if has_tag(candidate):
            return candidate.resolve()
    raise NoBuiltTag(
        f"no built tag in ./dist nor inside the installed package ({PACKAGED_DIST}): "
        "install rtp-tag from its wheel (which carries the tag), or in a checkout of rtp-tag "
        "run `rtp-tag build` first, or pass --dist"
    )
