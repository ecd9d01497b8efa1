"""The part of pytest's API the unit tests use, for running them inside Pyodide.

pytest itself is not available in Pyodide offline. The runner installs this
module as ``pytest``; anything else a test reaches for fails loudly with an
AttributeError naming it, rather than passing by accident.
"""

from __future__ import annotations

import re
from typing import Any


class Skipped(Exception):
    """Raised by ``pytest.skip``; the runner counts the test as skipped."""


class Failed(AssertionError):
    """Raised by ``pytest.fail`` and by ``pytest.raises`` when nothing was raised."""


def skip(reason: str = "") -> None:
    raise Skipped(reason)


def fail(reason: str = "") -> None:
    raise Failed(reason)


class ExceptionInfo:
    def __init__(self) -> None:
        self.value: BaseException | None = None
        self.type: type[BaseException] | None = None

    def match(self, pattern: str) -> bool:
        if not re.search(pattern, str(self.value)):
            raise Failed(f"Regex pattern {pattern!r} does not match {str(self.value)!r}")
        return True


class _Raises:
    def __init__(self, expected: Any, match: str | None) -> None:
        self._expected = expected
        self._match = match
        self._info = ExceptionInfo()

    def __enter__(self) -> ExceptionInfo:
        return self._info

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> bool:
        if kind is None:
            raise Failed(f"DID NOT RAISE {self._expected}")
        if not issubclass(kind, self._expected):
            return False  # an unexpected exception propagates, as in pytest
        self._info.value = value
        self._info.type = kind
        if self._match is not None:
            self._info.match(self._match)
        return True


def raises(expected: Any, *args: Any, match: str | None = None, **kwargs: Any) -> Any:
    """``with pytest.raises(Error, match=...)``, or ``pytest.raises(Error, func, *args)``."""
    context = _Raises(expected, match)
    if not args:
        return context
    with context as info:
        args[0](*args[1:], **kwargs)
    return info


class _Param:
    def __init__(self, values: tuple[Any, ...], id: str | None, marks: Any) -> None:
        self.values = values
        self.id = id
        self.marks = marks


def param(*values: Any, id: str | None = None, marks: Any = ()) -> _Param:
    return _Param(values, id, marks)


class _Mark:
    def __init__(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.name = name
        self.args = args
        self.kwargs = kwargs

    def __call__(self, function: Any) -> Any:
        marks = getattr(function, "pytestmark", [])
        function.pytestmark = [*marks, self]
        return function


class _MarkFactory:
    """``pytest.mark.parametrize``, ``skip`` and ``skipif`` are acted on; any other
    mark (``slow``, ``timeout`` ...) is recorded and ignored, as pytest does."""

    def __getattr__(self, name: str) -> Any:
        def make(*args: Any, **kwargs: Any) -> Any:
            if name not in ("parametrize",) and len(args) == 1 and callable(args[0]) and not kwargs:
                return _Mark(name, (), {})(args[0])  # a bare @pytest.mark.NAME
            return _Mark(name, args, kwargs)

        return make


mark = _MarkFactory()


def cases(function: Any) -> list[tuple[str, dict[str, Any], str | None]]:
    """The runs of ``function``: (id, arguments, reason to skip or None)."""
    runs: list[tuple[str, dict[str, Any], str | None]] = [("", {}, None)]
    for each in reversed(getattr(function, "pytestmark", [])):
        if each.name == "skip":
            reason = each.kwargs.get("reason", each.args[0] if each.args else "skipped")
            runs = [(id_, kwargs, reason) for id_, kwargs, _ in runs]
        elif each.name == "skipif" and each.args and each.args[0]:
            reason = each.kwargs.get("reason", "condition is true")
            runs = [(id_, kwargs, reason) for id_, kwargs, _ in runs]
        elif each.name == "parametrize":
            runs = _expand(runs, *each.args, **each.kwargs)
    return runs


def _expand(runs: list[Any], names: Any, values: Any, ids: Any = None) -> list[Any]:
    names = [name.strip() for name in names.split(",")] if isinstance(names, str) else list(names)
    expanded = []
    for index, value in enumerate(values):
        explicit = None
        if isinstance(value, _Param):
            explicit, value = value.id, value.values
        elif len(names) == 1:
            value = (value,)
        if len(value) != len(names):
            raise TypeError(f"parametrize: {names} got {len(value)} values: {value!r}")
        if explicit is None and ids is not None:
            explicit = ids(value[0]) if callable(ids) else ids[index]
        label = explicit if explicit is not None else "-".join(_label(item, f"{name}{index}") for name, item in zip(names, value))
        for id_, kwargs, skip_reason in runs:
            expanded.append(
                (f"{label}-{id_}" if id_ else label, {**kwargs, **dict(zip(names, value))}, skip_reason)
            )
    return expanded


def _label(value: Any, fallback: str) -> str:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return str(value)
    return fallback
