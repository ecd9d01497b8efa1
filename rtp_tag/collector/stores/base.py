"""The one interface every event store implements; the collector sees only this."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol


class StoreBusy(RuntimeError):
    """The database is locked by someone else: the client should retry later."""


class StoreUnavailable(RuntimeError):
    """The database cannot be reached (lost connection, server down): retry later."""


class Store(Protocol):
    """Events keyed by a unique ``event_id``; safe to share between the server's threads."""

    def add(self, events: Iterable[dict[str, Any]]) -> int:
        """Store events not seen before (by ``event_id``), all or none; return how many were new."""
        ...

    def events(self, visitor_id: str | None = None, limit: int = 10_000) -> list[dict[str, Any]]:
        """Stored events, oldest first; only one visitor's when ``visitor_id`` is given."""
        ...

    def close(self) -> None:
        """Release the connection; the store is not used afterwards."""
        ...
