"""Assemble ``dist/``: the loader, the Pyodide runtime files, our browser package,
the demo site, and a manifest with a Subresource Integrity hash of every asset."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import shutil
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "rtp_tag"
RUNTIME_FILES = ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide-lock.json")
SERVER_ONLY = ("collector", "cli.py", "build.py", "pytest_plugin.py", "pytest_browsers.py")
"""Parts of the package that never go to the browser."""
BUILD_LINE = re.compile(r"var BUILD = \{.*?\}; /\* rewritten by build.py \*/")


class BuildError(RuntimeError):
    pass


def integrity(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def browser_package() -> bytes:
    """A zip of the browser-side modules, byte-for-byte reproducible."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(PACKAGE.rglob("*.py")):
            relative = path.relative_to(PACKAGE)
            if relative.parts[0] in SERVER_ONLY:
                continue
            info = zipfile.ZipInfo(f"rtp_tag/{relative.as_posix()}", date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def build(out: Path = ROOT / "dist", runtime: Path = ROOT / "node_modules" / "pyodide") -> dict[str, dict[str, object]]:
    """Write ``out`` afresh and return the manifest."""
    missing = [name for name in RUNTIME_FILES if not (runtime / name).is_file()]
    if missing:
        raise BuildError(f"the Pyodide runtime is missing from {runtime} ({', '.join(missing)}): run `npm ci` first")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    assets: dict[str, bytes] = {name: (runtime / name).read_bytes() for name in RUNTIME_FILES}
    package = browser_package()
    package_name = f"rtp_tag-{hashlib.sha256(package).hexdigest()[:12]}.zip"
    assets[package_name] = package
    loader = (ROOT / "web" / "rtp.js").read_text()
    settings = json.dumps({"package": package_name, "integrity": integrity(package)})
    loader, count = BUILD_LINE.subn(f"var BUILD = {settings}; /* rewritten by build.py */", loader)
    if count != 1:
        raise BuildError("web/rtp.js lost its `var BUILD = {...}; /* rewritten by build.py */` line")
    assets["rtp.js"] = loader.encode()
    manifest = {}
    for name, data in sorted(assets.items()):
        (out / name).write_bytes(data)
        manifest[name] = {"bytes": len(data), "integrity": integrity(data)}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    shutil.copytree(ROOT / "web" / "demo", out / "demo")
    return manifest


def main() -> int:
    try:
        manifest = build()
    except BuildError as problem:
        print(f"build failed: {problem}")
        return 1
    total = 0
    for name, entry in manifest.items():
        size = int(entry["bytes"])  # type: ignore[arg-type]
        total += size
        print(f"  dist/{name:32} {size / 1024:9.1f} KiB  {entry['integrity']}")
    print(f"wrote dist/ ({total / 1024 / 1024:.1f} MiB in {len(manifest)} assets, plus demo/ and manifest.json)")
    return 0
