"""rtp-tag's PEP 517 build backend: setuptools', plus the built tag inside the wheel.

``pip wheel .`` and ``python -m build`` use it (``[build-system]`` in pyproject.toml).
The wheel carries the built tag as package data (``rtp_tag/dist/``, one encoded copy of
each asset: see ``rtp_tag.build.package_tag``), so installing it needs neither Node.js
nor npm. Building it does: the tag is built from the Pyodide runtime pinned in
package-lock.json, and ``npm ci`` runs first when ``node_modules/`` lacks it (an sdist).

A checkout's ``dist/`` is reused when its stamp says it was built from the sources as
they are now (``./dev`` builds it before the tests); otherwise the tag is built afresh
in a temporary directory, and ``dist/`` is left alone.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from setuptools import build_meta as _setuptools
from setuptools.build_meta import (  # noqa: F401  (the rest of the backend is setuptools' own)
    build_editable,
    build_sdist,
    get_requires_for_build_editable,
    get_requires_for_build_sdist,
    get_requires_for_build_wheel,
    prepare_metadata_for_build_editable,
    prepare_metadata_for_build_wheel,
)
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent.parent


def build_wheel(
    wheel_directory: str, config_settings: dict | None = None, metadata_directory: str | None = None
) -> str:
    """setuptools' wheel, and its size said."""
    name = _setuptools.build_wheel(wheel_directory, config_settings, metadata_directory)
    size = (Path(wheel_directory) / name).stat().st_size
    print(f"rtp-tag: wheel {name}: {size / 1024 / 1024:.2f} MiB", flush=True)
    return name


class BuildPyWithTag(build_py):
    """setuptools' ``build_py``, then the built tag into ``rtp_tag/dist/`` (not for an
    editable install, which serves the checkout's own ``dist/``)."""

    def run(self) -> None:
        editable = getattr(self, "editable_mode", False)
        if not editable:  # setuptools keeps build/lib/ between builds: a module removed since would ship
            shutil.rmtree(Path(self.build_lib) / "rtp_tag", ignore_errors=True)
        super().run()
        if editable:
            return
        build = _tag_build()
        target = Path(self.build_lib) / "rtp_tag" / "dist"
        with _built_tag(build) as dist:
            files, size = build.package_tag(dist, target)
        print(f"rtp-tag: the built tag in the wheel: {files} files, {size / 1024 / 1024:.2f} MiB", flush=True)


def _tag_build():  # -> the module rtp_tag.build of this source tree
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from rtp_tag import build

    return build


@contextmanager
def _built_tag(build) -> Iterator[Path]:
    """The checkout's ``dist/`` when it is up to date, else a fresh build."""
    dist = ROOT / "dist"
    if build.is_up_to_date(dist):
        print(f"rtp-tag: reusing {dist}, built from the current sources", flush=True)
        yield dist
        return
    runtime = ROOT / "node_modules" / "pyodide"
    if not (runtime / "pyodide.mjs").is_file():
        _npm_ci()
    with tempfile.TemporaryDirectory(prefix="rtp-tag-wheel-") as work:
        out = Path(work) / "dist"
        try:
            build.build(out=out)
        except build.BuildError as problem:
            raise SystemExit(f"rtp-tag: building the tag for the wheel failed: {problem}") from None
        yield out


def _npm_ci() -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit(
            "rtp-tag: building the wheel builds the tag from the Pyodide runtime pinned in package-lock.json, "
            "which needs Node.js 18+ and npm: install them (installing the wheel then needs neither)"
        )
    print("rtp-tag: npm ci (the pinned Pyodide runtime)", flush=True)
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=ROOT, check=True)
