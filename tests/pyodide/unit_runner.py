"""A tiny test runner for tests/unit inside Pyodide (pytest is not available there).

It imports every ``test_*.py`` module of the unit directory, runs each ``test_*``
function (expanding ``pytest.mark.parametrize``), prints each failure with its
traceback, and ends with the line ``N passed, M failed``. Test modules that import
a server-only part of the package are skipped: the browser never gets that code.
"""

from __future__ import annotations

import ast
import asyncio
import asyncio.base_events
import importlib
import inspect
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import pytest  # the shim, installed by run_unit_tests.mjs

CPYTHON_ONLY = {"test_runs_in_pyodide": "it starts Node from CPython"}


def main(test_dir: str, server_only: list[str], selectors: list[str]) -> int:
    asyncio.run = _run_without_stack_switching
    passed = failed = skipped = 0
    started = time.monotonic()
    for path in sorted(Path(test_dir).glob("test_*.py")):
        reason = CPYTHON_ONLY.get(path.stem) or _server_only(path, server_only)
        if reason:
            print(f"skipped {path.name}: {reason}")
            continue
        try:
            module = importlib.import_module(path.stem)
        except BaseException:
            failed += 1
            _report(f"{path.name} (import)", traceback.format_exc())
            continue
        ran = 0
        for name, function in list(vars(module).items()):
            if not (name.startswith("test_") and inspect.isfunction(function)):
                continue
            if function.__module__ != module.__name__:
                continue  # imported from elsewhere, as pytest also ignores
            for case_id, arguments, skip_reason in pytest.cases(function):
                test_id = f"{path.name}::{name}" + (f"[{case_id}]" if case_id else "")
                if selectors and not any(selector in test_id for selector in selectors):
                    continue
                if skip_reason:
                    skipped += 1
                    continue
                ran += 1
                outcome = _run_one(function, arguments)
                if outcome is None:
                    passed += 1
                elif outcome == "skipped":
                    skipped += 1
                else:
                    failed += 1
                    _report(test_id, outcome)
        print(f"ran {path.name}: {ran} tests", flush=True)
    seconds = time.monotonic() - started
    print(f"({skipped} skipped in {seconds:.1f}s, Python {sys.version.split()[0]} on {sys.platform})")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


def _run_one(function: Any, arguments: dict[str, Any]) -> str | None:
    """Run one test; return None when it passed, "skipped", or the failure's traceback."""
    fixtures = _Fixtures()
    try:
        for parameter in inspect.signature(function).parameters:
            if parameter not in arguments:
                arguments = {**arguments, parameter: fixtures.get(parameter)}
        function(**arguments)
    except pytest.Skipped:
        return "skipped"
    except BaseException:
        return traceback.format_exc()
    finally:
        fixtures.close()
    return None


class _Fixtures:
    """The few pytest fixtures a unit test may ask for."""

    def __init__(self) -> None:
        self._cleanups: list[Any] = []

    def get(self, name: str) -> Any:
        if name == "tmp_path":
            path = tempfile.mkdtemp(prefix="unit-")
            self._cleanups.append(lambda: shutil.rmtree(path, ignore_errors=True))
            return Path(path)
        if name == "monkeypatch":
            patch = _MonkeyPatch()
            self._cleanups.append(patch.undo)
            return patch
        raise LookupError(f"the test needs the fixture {name!r}, which the Pyodide runner does not provide")

    def close(self) -> None:
        for cleanup in reversed(self._cleanups):
            cleanup()


class _MonkeyPatch:
    _missing = object()

    def __init__(self) -> None:
        self._undo: list[Any] = []

    def setattr(self, target: Any, name: str, value: Any) -> None:
        old = getattr(target, name, self._missing)
        self._undo.append(lambda: delattr(target, name) if old is self._missing else setattr(target, name, old))
        setattr(target, name, value)

    def setitem(self, mapping: Any, key: Any, value: Any) -> None:
        old = mapping.get(key, self._missing)
        self._undo.append(lambda: mapping.pop(key, None) if old is self._missing else mapping.__setitem__(key, old))
        mapping[key] = value

    def setenv(self, name: str, value: str) -> None:
        self.setitem(os.environ, name, value)

    def delenv(self, name: str, raising: bool = True) -> None:
        if name not in os.environ:
            if raising:
                raise KeyError(name)
            return
        old = os.environ[name]
        self._undo.append(lambda: os.environ.__setitem__(name, old))
        del os.environ[name]

    def undo(self) -> None:
        while self._undo:
            self._undo.pop()()


def _server_only(path: Path, server_only: list[str]) -> str | None:
    """Why the module cannot run in the browser, if it imports server-only code."""
    names = {f"rtp_tag.{part.removesuffix('.py')}" for part in server_only}
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        imported = []
        if isinstance(node, ast.Import):
            imported = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for module in imported:
            if any(module == name or module.startswith(name + ".") for name in names):
                return f"it tests server-only code ({module})"
    return None


def _report(test_id: str, details: str) -> None:
    print(f"FAILED {test_id}\n{details}", flush=True)


class _NoSelector:
    def select(self, timeout: float | None) -> list[Any]:
        return []

    def close(self) -> None:
        pass


class _PlainLoop(asyncio.base_events.BaseEventLoop):
    """An event loop with no I/O. The unit tests' coroutines wait only on futures and
    timers, so this drives them; it spins rather than sleeps when a timer is pending."""

    def __init__(self) -> None:
        super().__init__()
        self._selector = _NoSelector()

    def _process_events(self, event_list: list[Any]) -> None:
        pass

    def _write_to_self(self) -> None:
        pass


def _run_without_stack_switching(main: Any, *, debug: bool | None = None) -> Any:
    """``asyncio.run`` for a synchronous caller. Pyodide's own needs JavaScript
    Promise Integration, which Node does not offer; and Pyodide's WebLoop always
    counts as running, so it is set aside while the plain loop runs."""
    webloop = asyncio.events._get_running_loop()
    asyncio.events._set_running_loop(None)
    try:
        with asyncio.Runner(debug=debug, loop_factory=_PlainLoop) as runner:
            return runner.run(main)
    finally:
        asyncio.events._set_running_loop(webloop)
