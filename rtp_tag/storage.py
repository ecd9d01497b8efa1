"""Key-value storage as the core sees it, and the guard that keeps the tag working
when the browser refuses storage (sandboxed iframes, disabled storage, full quota).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Storage(Protocol):
    """The part of the Web Storage API the tag uses."""

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str) -> None: ...

    def remove(self, key: str) -> None: ...

    def keys(self) -> list[str]: ...


class MemoryStorage:
    """Storage that lasts as long as the object: the fallback, and the tests' storage."""

    def __init__(self, items: dict[str, str] | None = None) -> None:
        self.items: dict[str, str] = dict(items or {})

    def get(self, key: str) -> str | None:
        return self.items.get(key)

    def set(self, key: str, value: str) -> None:
        self.items[key] = value

    def remove(self, key: str) -> None:
        self.items.pop(key, None)

    def keys(self) -> list[str]:
        return list(self.items)


class GuardedStorage:
    """Storage that falls back to memory for the page's life on the first error.

    Once a read or write fails, every later call uses the in-memory copy, so the
    tag's state stays consistent; ``on_failure`` is told once, with the error.
    """

    def __init__(self, primary: Storage, name: str, on_failure: Callable[[str], None]) -> None:
        self._primary: Storage | None = primary
        self._fallback = MemoryStorage()
        self._name = name
        self._on_failure = on_failure

    @property
    def degraded(self) -> bool:
        return self._primary is None

    def get(self, key: str) -> str | None:
        if self._primary is not None:
            try:
                return self._primary.get(key)
            except Exception as error:  # the browser's refusal can be any exception
                self._fail(error)
        return self._fallback.get(key)

    def set(self, key: str, value: str) -> None:
        if self._primary is not None:
            try:
                self._primary.set(key, value)
                return
            except Exception as error:
                self._fail(error)
        self._fallback.set(key, value)

    def remove(self, key: str) -> None:
        if self._primary is not None:
            try:
                self._primary.remove(key)
                return
            except Exception as error:
                self._fail(error)
        self._fallback.remove(key)

    def keys(self) -> list[str]:
        if self._primary is not None:
            try:
                return self._primary.keys()
            except Exception as error:
                self._fail(error)
        return self._fallback.keys()

    def _fail(self, error: Exception) -> None:
        primary, self._primary = self._primary, None
        try:  # a full quota still lets us read: carry the session and outbox over
            if primary is not None:
                for key in primary.keys():
                    value = primary.get(key)
                    if value is not None:
                        self._fallback.set(key, value)
        except Exception:
            pass  # unreadable too: start from empty memory
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        self._on_failure(
            f"{self._name} is not available ({reason}); "
            "keeping state in memory for this page only"
        )
