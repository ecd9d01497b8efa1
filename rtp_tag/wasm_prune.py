"""Pruning Pyodide's runtime for the tag: the wasm's function exports that no
JavaScript calls go, with the code only they reached.

Pyodide exports every function of libc, CPython and its static modules so that side
modules (packages with C code) can link against them; the tag loads none, and its
loader only copies each export into ``Module``. Build-time only (Node.js and the npm
package ``binaryen``); figures in bench/README.md.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path


def _leb(data: bytes, offset: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, offset


def _wasm_sections(wasm: bytes) -> dict[int, tuple[int, int]]:
    """The first section of each id: (start, end) of its contents."""
    sections: dict[int, tuple[int, int]] = {}
    offset = 8
    while offset < len(wasm):
        size, start = _leb(wasm, offset + 1)
        sections.setdefault(wasm[offset], (start, start + size))
        offset = start + size
    return sections


def _wasm_names(wasm: bytes, section: int) -> list[tuple[str, int]]:
    """(name, kind) of each export (section 7), or (module.name, kind) of each import (2)."""
    start, _ = _wasm_sections(wasm)[section]
    count, offset = _leb(wasm, start)
    names = []
    for _ in range(count):
        module = ""
        if section == 2:
            length, offset = _leb(wasm, offset)
            module, offset = wasm[offset:offset + length].decode() + ".", offset + length
        length, offset = _leb(wasm, offset)
        name, kind = wasm[offset:offset + length].decode(), wasm[offset + length]
        offset += length + 1
        if section == 7 or kind == 0:  # an export's index, or a function import's type
            offset = _leb(wasm, offset)[1]
        elif kind == 1:  # table: element type, limits
            flags, offset = _leb(wasm, offset + 1)
            offset = _leb(wasm, _leb(wasm, offset)[1])[1] if flags & 1 else _leb(wasm, offset)[1]
        elif kind == 2:  # memory: limits
            flags, offset = _leb(wasm, offset)
            offset = _leb(wasm, _leb(wasm, offset)[1])[1] if flags & 1 else _leb(wasm, offset)[1]
        elif kind == 3:  # global: type, mutability
            offset += 2
        elif kind == 4:  # tag: attribute, type
            offset = _leb(wasm, offset + 1)[1]
        names.append((module + name, kind))
    return names


_EXPORT_TABLE = re.compile(r"function assignWasmExports\(wasmExports\)\{[^}]*\}")
_EXPORT_VARS = re.compile(r"var ([\w$]+(?:,[\w$]+){500,});")
_EXPORT_ASSIGNMENT = re.compile(r'(_[\w$]+)=Module\["\1"\]=wasmExports\["([^"]+)"\];')
_PRUNER = """
import binaryen from %(binaryen)s;
import fs from "node:fs";
const keep = new Set(JSON.parse(fs.readFileSync(%(keep)s, "utf8")));
const module = binaryen.readBinary(fs.readFileSync(%(source)s));
const F = binaryen.Features;
module.setFeatures(F.MVP | F.MutableGlobals | F.SignExt | F.NontrappingFPToInt | F.BulkMemory |
                   F.BulkMemoryOpt | F.ReferenceTypes | F.ExceptionHandling);
for (let i = module.getNumExports() - 1; i >= 0; i--) {
  const info = binaryen.getExportInfo(module.getExportByIndex(i));
  if (info.kind === binaryen.ExternalFunction && !keep.has(info.name)) module.removeExport(info.name);
}
module.runPasses(["remove-unused-module-elements"]);
if (!module.validate()) process.exit(1);
fs.writeFileSync(%(target)s, module.emitBinary());
"""


def pruned_runtime(wasm: bytes, loader: str, others: Iterable[str], binaryen: Path) -> tuple[bytes, str] | None:
    """``pyodide.asm.wasm`` and ``pyodide.asm.mjs`` without the wasm's function exports
    that no JavaScript calls, and without the code only they reached (binaryen's
    ``remove-unused-module-elements``). The runtime exports every function of libc,
    CPython and its static modules for side modules (packages with C code), which the
    tag never loads; the loader only copies each export into ``Module``. Kept: the
    function exports named anywhere in the JavaScript outside that copying (as a name
    or a string), those the wasm itself imports back through ``GOT.*``, ``__``-prefixed
    ones, and every non-function export. None when Node.js or binaryen is missing or
    anything looks wrong."""
    node = shutil.which("node")
    table = _EXPORT_TABLE.search(loader)
    if node is None or not (binaryen / "index.js").is_file() or table is None:
        return None
    outside = _EXPORT_VARS.sub("", loader[:table.start()] + loader[table.end():])
    referenced: set[str] = set()
    for text in (outside, *others):
        referenced.update(re.findall(r"[A-Za-z_$][\w$]*", text))
        referenced.update(re.findall(r'"([^"\\]+)"', text))
    imported_back = {name.split(".", 2)[-1] for name, _ in _wasm_names(wasm, 2) if name.startswith("GOT.")}
    keep = sorted(
        name for name, kind in _wasm_names(wasm, 7)
        if kind != 0 or name in referenced or "_" + name in referenced or name in imported_back or name.startswith("__")
    )
    with tempfile.TemporaryDirectory(prefix="rtp-build-") as work:
        paths = {key: Path(work, key) for key in ("source", "target", "keep")}
        paths["source"].write_bytes(wasm)
        paths["keep"].write_text(json.dumps(keep))
        script = Path(work, "prune.mjs")
        script.write_text(_PRUNER % {
            "binaryen": json.dumps((binaryen / "index.js").resolve().as_uri()),
            **{key: json.dumps(str(path)) for key, path in paths.items()},
        })
        try:
            subprocess.run([node, str(script)], check=True, capture_output=True, timeout=600)
        except (subprocess.SubprocessError, OSError):
            return None
        pruned = paths["target"].read_bytes()
    exported = {name for name, _ in _wasm_names(pruned, 7)}
    if not set(keep) <= exported or pruned[8:18] != wasm[8:18]:  # every kept export, dylink.0 first
        return None
    dropped: set[str] = set()

    def assignment(match: re.Match[str]) -> str:
        if match[2] in exported:
            return match[0]
        dropped.add(match[1])
        return ""

    loader = loader[:table.start()] + _EXPORT_ASSIGNMENT.sub(assignment, table[0]) + loader[table.end():]
    loader = _EXPORT_VARS.sub(lambda match: "var " + ",".join(
        name for name in match[1].split(",") if name not in dropped) + ";", loader)
    if dropped & set(re.findall(r"[A-Za-z_$][\w$]*", re.sub(r'wasmExports\["[^"]*"\]', "", loader))):
        return None  # a dropped variable is still used somewhere
    return pruned, loader
