"""Assemble ``dist/``: the loader, the Pyodide runtime files, our browser package,
the demo site, and a manifest with a Subresource Integrity hash of every asset.

The runtime is trimmed to what the tag needs: a standard library holding only the
modules Pyodide's bootstrap and our package import (transitively), and no lock file
(the loader passes a minimal one inline). The loader fetches the runtime from
``rt-KEY/``, a content-keyed path that the collector maps to these files, so it can
be cached for a year; each asset also gets precompressed ``.gz`` (and ``.br`` when
the ``brotli`` module is installed) siblings for the collector to serve. The standard
library ships as bytecode, compiled by the runtime itself under Node.js, with line
numbers but no column ranges (a quarter fewer bytes). The runtime's wasm loses the
function exports no JavaScript of ours or Pyodide's calls, and the code only they
reached (binaryen, an npm dev dependency): they exist for side modules, packages with
C code, which the tag never loads. Figures of each choice: bench/README.md."""

from __future__ import annotations

import base64
import gzip
import hashlib
import inspect
import io
import json
import re
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

from .build_cache import BuildCache
from .kept_builds import carry_over
from .layout import COMPRESSIBLE, ENCODINGS, LOADER, MANIFEST, SHIPPED_RUNTIME, SOURCES_STAMP, runtime_dir, runtime_key
from .wasm_prune import pruned_runtime

try:
    import brotli
except ImportError:  # gzip only; brotli saves about a fifth of the bytes
    brotli = None

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "rtp_tag"
RUNTIME_FILES = (*SHIPPED_RUNTIME, "pyodide-lock.json")
BOOTSTRAP_MODULES = (
    "_pyodide", "_pyodide._future_helper", "_pyodide.docstring", "_pyodide.jsbind", "pyodide",
    "pyodide._package_loader", "pyodide.code", "pyodide.common", "zipfile", "zipimport", "site",
    "encodings", "encodings.aliases", "encodings.utf_8", "encodings.utf_8_sig", "encodings.ascii", "encodings.latin_1",
    "encodings.raw_unicode_escape", "encodings.unicode_escape", "encodings.utf_16", "encodings.utf_32",
    "encodings.cp437",
)
"""What Pyodide's own start-up imports (its Python side, and the codecs looked up by name:
cp437 is how zipfile reads the names in our package)."""
NEVER_IMPORTED = {
    "_pydatetime": "datetime's fallback, imported only when the built-in _datetime is missing",
    "_py_abc": "abc's fallback, imported only when the built-in _abc is missing",
    "_threading_local": "threading's fallback, imported only when _thread._local is missing",
    "platform": "uuid imports it only when sys.platform is not emscripten (nor win32, darwin, wasi)",
}
"""Modules the import walk reaches but that never run in the pinned runtime: left out
(the bytecode compiler checks that the built-ins they stand in for are there)."""
SERVER_ONLY = (
    "collector", "cli.py", "build.py", "build_cache.py", "layout.py", "wasm_prune.py", "pytest_plugin.py",
    "pytest_browsers.py", "throwaway_postgres.py", "kept_builds.py",
)
"""Parts of the package that never go to the browser."""
NOT_BUILD_INPUTS = ("collector", "cli.py", "pytest_plugin.py", "pytest_browsers.py", "throwaway_postgres.py")
"""Parts of the package the build never reads (for ``sources_hash``)."""
BUILD_LINE = re.compile(r"var BUILD = \{.*?\}; /\* rewritten by build.py \*/")


class BuildError(RuntimeError):
    pass


def integrity(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def browser_sources() -> list[Path]:
    """Our package's modules that go to the browser (all but SERVER_ONLY), sorted."""
    return [path for path in sorted(PACKAGE.rglob("*.py")) if path.relative_to(PACKAGE).parts[0] not in SERVER_ONLY]


def browser_package() -> bytes:
    """A zip of the browser-side modules, byte-for-byte reproducible; stored, as the
    HTTP compression of the whole beats per-file deflate (by a third here)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for path in browser_sources():
            relative = path.relative_to(PACKAGE)
            info = zipfile.ZipInfo(f"rtp_tag/{relative.as_posix()}", date_time=(2020, 1, 1, 0, 0, 0))
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


_IMPORT = re.compile(
    r"^(?:from\s+(?P<base>\.*[\w.]*)\s+import\s+(?P<names>\([^)]*\)|[^#\n]*)|import\s+(?P<modules>[^#\n]+))"
)
_SKIPPED_BLOCK = re.compile(
    r"^(?:(?:async\s+)?def\s|if\s+__name__\s*==|if\s+(?:sys\.platform|os\.name)\s*==\s*['\"](?:win32|nt)['\"])"
)
"""Blocks whose imports do not run when a module is imported in Pyodide: function
bodies, ``if __name__ == "__main__":`` and Windows-only branches."""


def imported_names(source: str, module: str, is_package: bool, functions: bool = False) -> set[str]:
    """The modules ``source`` imports when it is imported: imports at module level and
    in its ``try``/``if`` blocks, not those a function makes when (if ever) it runs,
    unless ``functions`` (our own package: its functions do run in the browser).
    A ``from X import name`` counts ``X.name`` too, in case it is a submodule."""
    found: set[str] = set()
    skipped: list[int] = []  # indents of the enclosing skipped blocks
    lines = iter(source.splitlines())
    for line in lines:
        text = line.lstrip()
        if not text or text.startswith("#"):
            continue
        indent = len(line) - len(text)
        while skipped and indent <= skipped[-1]:
            skipped.pop()
        if _SKIPPED_BLOCK.match(text) and not (functions and re.match(r"(?:async\s+)?def\s", text)):
            skipped.append(indent)
            continue
        match = _IMPORT.match(text)
        if skipped or not match:
            continue
        if match["names"] is not None and match["names"].startswith("(") and ")" not in match["names"]:
            rest = [match["names"]]
            for more in lines:
                rest.append(more)
                if ")" in more:
                    break
            names = " ".join(rest)
        else:
            names = match["names"] or ""
        if match["modules"]:
            found.update(part.split()[0] for part in match["modules"].split(",") if part.split())
            continue
        base = match["base"]
        if base.startswith("."):
            dots = len(base) - len(base.lstrip("."))
            package = module.split(".") if is_package else module.split(".")[:-1]
            package = package[: len(package) - dots + 1]
            base = ".".join(package + ([base.lstrip(".")] if base.lstrip(".") else []))
        if not base:
            continue
        found.add(base)
        for name in names.strip().strip("()").split(","):
            if name.split() and name.split()[0] not in ("*", "\\"):
                found.add(f"{base}.{name.split()[0].strip('()')}")
    return found


def trimmed_stdlib(stdlib: bytes, seeds: Iterable[str], never: Iterable[str] = ()) -> bytes:
    """``python_stdlib.zip`` holding only the modules reachable from ``seeds`` (less
    ``never``), stored uncompressed: the HTTP compression of the whole then beats
    per-file deflate."""
    archive = zipfile.ZipFile(io.BytesIO(stdlib))
    names = set(archive.namelist())

    def source_of(module: str) -> tuple[str, bool] | None:
        path = module.replace(".", "/")
        if f"{path}/__init__.py" in names:
            return f"{path}/__init__.py", True
        if f"{path}.py" in names:
            return f"{path}.py", False
        return None

    keep: set[str] = set()
    pending = list(seeds)
    seen: set[str] = set(never)
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        parts = module.split(".")
        pending.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # parent packages run first
        found = source_of(module)
        if found is None:
            continue  # built into the runtime, or not a module at all
        path, is_package = found
        keep.add(path)
        pending.extend(imported_names(archive.read(path).decode("utf-8"), module, is_package))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as out:
        for info in archive.infolist():
            if info.filename in keep or info.filename.startswith("site-packages/"):
                copy = zipfile.ZipInfo(info.filename, date_time=(2020, 1, 1, 0, 0, 0))
                out.writestr(copy, archive.read(info))
    return buffer.getvalue()


def package_imports() -> set[str]:
    """The modules our browser package imports, in its functions too."""
    found: set[str] = set()
    for path in browser_sources():
        relative = path.relative_to(PACKAGE)
        module = ".".join(("rtp_tag", *relative.with_suffix("").parts))
        is_package = path.name == "__init__.py"
        found.update(imported_names(path.read_text(), module.removesuffix(".__init__"), is_package, functions=True))
    return {name for name in found if not name.startswith("rtp_tag")}


_COMPILER = """
import {loadPyodide} from %(runtime)s;
import fs from "node:fs";
// Line numbers but no column ranges in the bytecode: a quarter fewer bytes (brotli); only
// the ^^^^ markers under a traceback's lines are lost.
const pyodide = await loadPyodide({env: {PYTHONNODEBUGRANGES: "1"}});
pyodide.FS.writeFile("/tmp/in.zip", fs.readFileSync(%(source)s));
pyodide.runPython(%(python)s);
fs.writeFileSync(%(target)s, pyodide.FS.readFile("/tmp/out.zip"));
"""
_COMPILE = """
import importlib.util, io, zipfile
from importlib._bootstrap_external import _code_to_hash_pyc
import _abc, _datetime, _thread  # what build.NEVER_IMPORTED relies on
_thread._local
source = zipfile.ZipFile("/tmp/in.zip")
with zipfile.ZipFile("/tmp/out.zip", "w", zipfile.ZIP_STORED) as out:
    for info in source.infolist():
        data = source.read(info)
        name = info.filename
        if name.endswith(".py"):
            # Pyodide's own modules read their docstrings; the rest can lose them.
            level = 0 if name.startswith(("_pyodide/", "pyodide/")) else 2
            code = compile(data, name, "exec", dont_inherit=True, optimize=level)
            data, name = bytes(_code_to_hash_pyc(code, importlib.util.source_hash(data), False)), name + "c"
        out.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data)
"""


def compiled_stdlib(stdlib: bytes, runtime: Path) -> bytes | None:
    """``stdlib`` with every module compiled to bytecode by the runtime itself (under
    Node.js), so the browser does not compile them at each boot: about 60% less boot
    time for 50% more bytes. None when Node.js is missing or the compilation fails."""
    node = shutil.which("node")
    if node is None:
        return None
    with tempfile.TemporaryDirectory(prefix="rtp-build-") as work:
        source, target, script = Path(work, "in.zip"), Path(work, "out.zip"), Path(work, "compile.mjs")
        source.write_bytes(stdlib)
        script.write_text(_COMPILER % {
            "runtime": json.dumps((runtime / "pyodide.mjs").resolve().as_uri()), "source": json.dumps(str(source)),
            "target": json.dumps(str(target)), "python": json.dumps(_COMPILE),
        })
        try:
            subprocess.run([node, str(script)], check=True, capture_output=True, timeout=300)
        except (subprocess.SubprocessError, OSError):
            return None
        return target.read_bytes()


def preloaded_modules() -> list[str]:
    """Our modules that touch no page (no ``js``): imported before a memory snapshot."""
    modules = []
    for path in browser_sources():
        if path.name == "__init__.py":
            continue
        relative = path.relative_to(PACKAGE)
        if not re.search(r"^\s*(import js|from js|from pyodide|import pyodide)\b", path.read_text(), re.M):
            modules.append(".".join(("rtp_tag", *relative.with_suffix("").parts)))
    return modules


def sources_hash() -> str:
    """A hash of every file the build reads from the checkout (the npm lock file standing
    for ``node_modules/``), stamped in ``dist/`` so a wheel build can reuse an up-to-date one."""
    inputs = [ROOT / "package-lock.json", *(ROOT / "web").rglob("*"), *(
        path for path in PACKAGE.rglob("*.py") if path.relative_to(PACKAGE).parts[0] not in NOT_BUILD_INPUTS
    )]
    digest = hashlib.sha256()
    for path in sorted(path for path in inputs if path.is_file() and "__pycache__" not in path.parts):
        digest.update(f"{path.relative_to(ROOT).as_posix()} {hashlib.sha256(path.read_bytes()).hexdigest()}\n".encode())
    return digest.hexdigest()


def is_up_to_date(dist: Path) -> bool:
    """Whether ``dist`` was built from the sources as they are now."""
    try:
        return (dist / SOURCES_STAMP).read_text().strip() == sources_hash()
    except OSError:
        return False


def package_tag(dist: Path, target: Path) -> tuple[int, int]:
    """Copy the built tag ``dist`` to ``target`` as the wheel carries it: each asset once,
    as its first precompressed copy (``.br`` when the build had brotli; the server decodes
    it for clients that do not accept it), the manifest and the demo as they are.
    Returns the number of files written and their bytes."""
    manifest = json.loads((dist / MANIFEST).read_text())
    suffixes = ("", *(suffix for _, suffix in ENCODINGS))
    copies = {name + suffix for name in manifest for suffix in suffixes}
    kept = set()
    for name in manifest:
        found = [name + suffix for _, suffix in ENCODINGS] + [name]
        kept.add(next((copy for copy in found if (dist / copy).is_file()), name))
    files = size = 0
    for path in sorted(dist.rglob("*")):
        name = path.relative_to(dist).as_posix()
        if not path.is_file() or name == SOURCES_STAMP or (name in copies and name not in kept):
            continue
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
        files, size = files + 1, size + path.stat().st_size
    missing = [name for name in kept if not (target / name).is_file()]
    if missing:
        raise BuildError(f"{dist} lacks {', '.join(sorted(missing))}: build it again (`rtp-tag build`)")
    return files, size


def precompressed(data: bytes, cache: BuildCache | None = None) -> dict[str, bytes]:
    """``.gz`` and ``.br`` versions of ``data`` worth serving (at least 10% smaller)."""
    suffixes = (".gz", ".br") if brotli is not None else (".gz",)

    def make() -> list[bytes]:
        versions = [gzip.compress(data, 9, mtime=0)]
        if brotli is not None:
            versions.append(brotli.compress(data, quality=11, lgwin=24))
        return versions

    made = _cached(cache, "compressed", [data, b"gzip 9, brotli quality 11 lgwin 24: " + " ".join(suffixes).encode()],
                   make)
    assert made is not None
    return {suffix: packed for suffix, packed in zip(suffixes, made, strict=True) if len(packed) < 0.9 * len(data)}


CACHE = ROOT / ".cache" / "build"
"""Where the build keeps the results of its slow steps (see ``build_cache``)."""


def build(out: Path = ROOT / "dist", runtime: Path = ROOT / "node_modules" / "pyodide",
          binaryen: Path = ROOT / "node_modules" / "binaryen",
          cache: BuildCache | None = None) -> dict[str, dict[str, object]]:
    """Write ``out`` afresh and return the manifest. With a ``cache``, the slow steps
    (pruning, bytecode, compression) are reused when their inputs did not change."""
    if not (ROOT / "web" / LOADER).is_file():
        raise BuildError(
            f"the tag's sources are not next to {PACKAGE} (no web/{LOADER}): `rtp-tag build` works in a "
            "checkout of rtp-tag; an installed rtp-tag already carries its built tag"
        )
    missing = [name for name in RUNTIME_FILES if not (runtime / name).is_file()]
    if missing:
        raise BuildError(f"the Pyodide runtime is missing from {runtime} ({', '.join(missing)}): run `npm ci` first")
    sources = sources_hash()  # before reading them: a change during the build makes the stamp stale
    final, out = out, out.with_name(out.name + ".building")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    assets: dict[str, bytes] = {name: (runtime / name).read_bytes() for name in SHIPPED_RUNTIME}
    lock = json.loads((runtime / "pyodide-lock.json").read_text())
    runtime_files = [assets[name] for name in SHIPPED_RUNTIME]
    binaryen_version = (binaryen / "package.json").read_bytes() if (binaryen / "package.json").is_file() else b""

    def prune() -> list[bytes] | None:
        pruned = pruned_runtime(assets["pyodide.asm.wasm"], assets["pyodide.asm.mjs"].decode(),
                                [assets["pyodide.mjs"].decode()], binaryen)
        return None if pruned is None else [pruned[0], pruned[1].encode()]

    pruned = _cached(cache, "pruned-runtime", [*runtime_files, binaryen_version, _source_of(pruned_runtime)], prune)
    if pruned is None:
        print("note: the runtime's unused exports were not pruned (needs Node.js and `npm ci` for binaryen)")
    else:
        assets["pyodide.asm.wasm"], assets["pyodide.asm.mjs"] = pruned
    seeds = (*BOOTSTRAP_MODULES, *package_imports())
    stdlib = trimmed_stdlib(assets["python_stdlib.zip"], seeds, never=NEVER_IMPORTED)
    made = _cached(cache, "compiled-stdlib", [stdlib, *runtime_files, _COMPILER.encode(), _COMPILE.encode()],
                   lambda: None if (compiled := compiled_stdlib(stdlib, runtime)) is None else [compiled])
    compiled = None if made is None else made[0]
    if compiled is None:
        print("note: Node.js could not compile the standard library to bytecode; shipping its sources (slower boot)")
        stdlib = trimmed_stdlib(assets["python_stdlib.zip"], seeds)  # unchecked: keep the fallbacks
    assets["python_stdlib.zip"] = compiled or stdlib
    package = browser_package()
    package_name = f"rtp_tag-{hashlib.sha256(package).hexdigest()[:12]}.zip"
    assets[package_name] = package
    loader = (ROOT / "web" / "rtp.js").read_text()
    key = runtime_key({name: {"integrity": integrity(assets[name])} for name in SHIPPED_RUNTIME})
    assert key is not None  # every shipped runtime file is in the mapping just built
    settings = json.dumps({
        "package": package_name, "integrity": integrity(package),
        "runtime": runtime_dir(key),
        "lock": {"info": lock["info"], "packages": {}},
        "snapshot": True, "preload": preloaded_modules(),
    })
    loader, count = BUILD_LINE.subn(f"var BUILD = {settings}; /* rewritten by build.py */", loader)
    if count != 1:
        raise BuildError("web/rtp.js lost its `var BUILD = {...}; /* rewritten by build.py */` line")
    assets[LOADER] = loader.encode()
    manifest = {}
    for name, data in sorted(assets.items()):
        (out / name).write_bytes(data)
        manifest[name] = {"bytes": len(data), "integrity": integrity(data)}
        if name.endswith(COMPRESSIBLE):
            for suffix, packed in precompressed(data, cache).items():
                (out / (name + suffix)).write_bytes(packed)
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    (out / SOURCES_STAMP).write_text(sources + "\n")
    shutil.copytree(ROOT / "web" / "demo", out / "demo")
    carry_over(final, out, {"runtime": key, "package": package_name})
    # Swapped in whole at the end: a server running from ``final`` never sees half a build.
    previous = final.with_name(final.name + ".previous")
    if previous.exists():
        shutil.rmtree(previous)
    if final.exists():
        final.rename(previous)
    out.rename(final)
    shutil.rmtree(previous, ignore_errors=True)
    if cache is not None:
        cache.prune()
    return manifest


def _cached(cache: BuildCache | None, step: str, inputs: list[bytes],
            make: Callable[[], list[bytes] | None]) -> list[bytes] | None:
    return make() if cache is None else cache.remember(step, inputs, make)


def _source_of(function: Callable[..., object]) -> bytes:
    """The source of the module defining ``function``: part of its step's cache key."""
    return Path(inspect.getfile(function)).read_bytes()


def main() -> int:
    cache = BuildCache(CACHE)
    try:
        manifest = build(cache=cache)
    except BuildError as problem:
        print(f"build failed: {problem}")
        return 1
    total = sent = 0
    for name, entry in manifest.items():
        size = int(str(entry["bytes"]))
        packed = min([size] + [(ROOT / "dist" / (name + suffix)).stat().st_size
                               for suffix in (".br", ".gz") if (ROOT / "dist" / (name + suffix)).is_file()])
        total, sent = total + size, sent + packed
        print(f"  dist/{name:32} {size / 1024:9.1f} KiB ({packed / 1024:7.1f} KiB sent)  {entry['integrity']}")
    print(f"wrote dist/ ({total / 1024 / 1024:.1f} MiB in {len(manifest)} assets, {sent / 1024 / 1024:.1f} MiB "
          f"as sent compressed, plus .br/.gz, demo/ and manifest.json)")
    if cache.reused:
        print(f"reused from {CACHE.relative_to(ROOT)}/ (inputs unchanged): {_steps(cache.reused)}")
    if cache.made:
        print(f"made and kept in {CACHE.relative_to(ROOT)}/: {_steps(cache.made)}")
    if brotli is None:
        print("note: install `brotli` (pip install brotli) for .br assets, about a fifth smaller than .gz")
    return 0


def _steps(steps: list[str]) -> str:
    """``compressed x12, pruned-runtime`` from a list of step names."""
    return ", ".join(f"{step} x{steps.count(step)}" if steps.count(step) > 1 else step for step in sorted(set(steps)))
