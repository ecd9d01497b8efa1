"""The unit tests pass inside Pyodide too, the runtime the tag ships to browsers,
with only the modules the build ships (see tests/pyodide/run_unit_tests.mjs)."""

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "tests" / "pyodide" / "run_unit_tests.mjs"
UNIT = Path(__file__).resolve().parent


def test_every_browser_side_unit_test_passes_inside_pyodide():
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "pyodide" / "pyodide.mjs").is_file():
        pytest.skip("node or node_modules/pyodide is missing: run `npm ci` (CI always has both)")
    in_pyodide = subprocess.Popen(
        [node, str(RUNNER)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        collected = _collected_by_pytest()
        output, _ = in_pyodide.communicate(timeout=240)
    finally:
        if in_pyodide.poll() is None:
            in_pyodide.kill()
            in_pyodide.wait()
    assert in_pyodide.returncode == 0, output
    summary = re.fullmatch(r"(\d+) passed, (\d+) failed", output.strip().splitlines()[-1])
    assert summary, output
    assert int(summary[2]) == 0, output
    ran = {name: int(count) for name, count in re.findall(r"^ran (test_\w+\.py): (\d+) tests$", output, re.M)}
    skipped = set(re.findall(r"^skipped (test_\w+\.py): ", output, re.M))
    assert sum(ran.values()) == int(summary[1]) > 0
    # Pyodide ran every module pytest sees (or said why not), each test as often as pytest would.
    assert set(ran) | skipped == set(collected), output
    differing = {name: (collected[name], count) for name, count in ran.items() if collected[name] != count}
    assert not differing, f"tests per module, (pytest, Pyodide): {differing}"
    assert skipped - {Path(__file__).name} <= _server_only_modules(), output


def _collected_by_pytest() -> Counter:
    listing = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", str(UNIT)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    ).stdout
    return Counter(re.findall(r"^tests/unit/(test_\w+\.py)::", listing, re.M))


def _server_only_modules() -> set:
    """The test modules that import code build.py keeps off the browser."""
    from rtp_tag.build import SERVER_ONLY

    pattern = re.compile(
        r"^\s*(?:from|import)\s+rtp_tag(?:\.|\s+import\s+)(?:%s)\b" % "|".join(
            re.escape(part.removesuffix(".py")) for part in SERVER_ONLY
        ),
        re.M,
    )
    return {path.name for path in UNIT.glob("test_*.py") if pattern.search(path.read_text())}
