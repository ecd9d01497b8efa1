// Runs tests/unit inside Pyodide, the runtime the tag ships to browsers.
//
//   node tests/pyodide/run_unit_tests.mjs [SUBSTRING ...]
//
// Pyodide's file system gets exactly the modules the build ships (rtp_tag/*.py
// minus build.py's SERVER_ONLY), the unit tests, and a small `pytest` shim.
// Prints each failure and ends with "N passed, M failed"; exits 0 only when
// nothing failed. Arguments keep only the tests whose id contains one of them.

import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const runtime = join(root, "node_modules", "pyodide", "pyodide.mjs");

function fail(message) {
  console.error(`run_unit_tests: ${message}`);
  process.exit(2);
}

if (!existsSync(runtime)) fail(`${relative(root, runtime)} is missing: run \`npm ci\` first`);

// One source of truth for what never goes to the browser: build.py's SERVER_ONLY.
const buildSource = readFileSync(join(root, "rtp_tag", "build.py"), "utf8");
const serverOnlyMatch = buildSource.match(/^SERVER_ONLY\s*=\s*\(([^)]*)\)/m);
if (!serverOnlyMatch) fail("rtp_tag/build.py no longer defines SERVER_ONLY = (...)");
const serverOnly = [...serverOnlyMatch[1].matchAll(/["']([^"']+)["']/g)].map((m) => m[1]);

function pythonFiles(dir, skipTop = []) {
  const found = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (skipTop.includes(name) || name === "__pycache__") continue;
    if (statSync(path).isDirectory()) found.push(...pythonFiles(path));
    else if (name.endsWith(".py")) found.push(path);
  }
  return found;
}

const { loadPyodide } = await import(pathToFileURL(runtime).href);
const pyodide = await loadPyodide();
const FS = pyodide.FS;
const base = "/home/pyodide/project";

function copy(from, to) {
  FS.mkdirTree(dirname(to));
  FS.writeFile(to, readFileSync(from));
}

const packageDir = join(root, "rtp_tag");
for (const file of pythonFiles(packageDir, serverOnly)) {
  copy(file, join(base, "rtp_tag", relative(packageDir, file)));
}
const unitDir = join(root, "tests", "unit");
for (const name of readdirSync(unitDir).sort()) {
  if (name.endsWith(".py") || name.endsWith(".json")) copy(join(unitDir, name), join(base, "tests", "unit", name));
}
copy(join(here, "pytest_shim.py"), join(base, "shim", "pytest.py"));
copy(join(here, "unit_runner.py"), join(base, "shim", "unit_runner.py"));

pyodide.globals.set("server_only", pyodide.toPy(serverOnly));
pyodide.globals.set("selectors", pyodide.toPy(process.argv.slice(2)));
const status = pyodide.runPython(`
import sys
sys.path[:0] = ["${base}", "${base}/tests/unit", "${base}/shim"]
sys.dont_write_bytecode = True
import unit_runner
unit_runner.main("${base}/tests/unit", list(server_only), list(selectors))
`);
process.exit(status);
