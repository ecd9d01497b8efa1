"""A rebuild keeps the last builds' content-keyed files served (build time only).

A page may hold an older ``rtp.js`` for minutes (longer behind a CDN); that loader asks
for its own build's package (``rtp_tag-HASH.zip``) and runtime (``rt-KEY/NAME``). So the
new ``dist/`` carries over those files of the previous builds (``layout.KEPT_BUILDS`` in
all) from the ``dist/`` it replaces, and lists them in ``layout.BUILDS``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .layout import BUILDS, ENCODINGS, KEPT_BUILDS, MANIFEST, SHIPPED_RUNTIME, runtime_key

Build = dict[str, str]
"""``{"runtime": KEY, "package": NAME}``: what one build's loader fetches."""
_SUFFIXES = ("", *(suffix for _, suffix in ENCODINGS))


def builds_of(dist: Path) -> list[Build]:
    """The builds ``dist`` serves, newest first; a ``dist`` from before this list existed
    has one, read from its manifest; none when there is no ``dist``."""
    try:
        listed = json.loads((dist / BUILDS).read_text())
        return [{"runtime": str(b["runtime"]), "package": str(b["package"])} for b in listed]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        manifest = json.loads((dist / MANIFEST).read_text())
    except (OSError, ValueError):
        return []
    key = runtime_key(manifest)
    packages = [name for name in manifest if name.startswith("rtp_tag-") and name.endswith(".zip")]
    return [{"runtime": key, "package": packages[0]}] if key and len(packages) == 1 else []


def carry_over(old: Path, new: Path, current: Build) -> list[Build]:
    """Copy into ``new`` the package and runtime files of ``old``'s most recent builds
    other than ``current`` (as many as make ``KEPT_BUILDS`` with it), write the list of
    builds ``new`` serves, and return it. Files a build lacks in ``old`` are skipped, so
    a damaged old ``dist/`` never stops a build."""
    kept = [current]
    old_top_runtime = builds_of(old)[0]["runtime"] if builds_of(old) else None
    for build in builds_of(old):
        if len(kept) == KEPT_BUILDS:
            break
        if build in kept:
            continue
        for suffix in _SUFFIXES:
            _copy(old / (build["package"] + suffix), new / (build["package"] + suffix))
        if build["runtime"] != current["runtime"]:
            # Top level in ``old`` if it was that build's newest runtime, else in rt-KEY/ already.
            where = old if build["runtime"] == old_top_runtime else old / f"rt-{build['runtime']}"
            for name in SHIPPED_RUNTIME:
                for suffix in _SUFFIXES:
                    _copy(where / (name + suffix), new / f"rt-{build['runtime']}" / (name + suffix))
        kept.append(build)
    (new / BUILDS).write_text(json.dumps(kept, indent=2) + "\n")
    return kept


def _copy(source: Path, target: Path) -> None:
    if source.is_file() and not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
