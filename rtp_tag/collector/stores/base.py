"""The one interface every event store implements; the collector sees only this."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from ..profile import VisitorProfile

MAX_PAGE = 10_000
"""The most events one ``Store.events`` call (and one ``/api/events`` page) returns."""


class StoreBusy(RuntimeError):
    """The database is locked by someone else: the client should retry later."""


class StoreUnavailable(RuntimeError):
    """The database cannot be reached (lost connection, server down): retry later."""


class UnknownCursor(ValueError):
    """An ``after`` cursor beyond every ``seq`` the store has handed out."""


class Outcome(NamedTuple):
    """A campaign's exposed visitors (of one group) and how many of them converted."""

    visitors: int
    direct: int
    """Sent a goal value after an exposure in the same session."""
    assisted: int
    """Sent it later, within the window after their first exposure, but not directly."""


class Store(Protocol):
    """Events keyed by a unique ``event_id``, each given an increasing ``seq`` when
    stored; safe to share between the server's threads."""

    def add(self, events: Iterable[dict[str, Any]]) -> int:
        """Store events not seen before (by ``event_id``), all or none; return how many were new."""
        ...

    def events(self, visitor_id: str | None = None, after: int = 0, limit: int = MAX_PAGE) -> list[dict[str, Any]]:
        """Up to ``limit`` stored events with ``seq`` above ``after``, oldest first, each
        with its ``seq``; only one visitor's when ``visitor_id`` is given. Raises
        UnknownCursor when ``after`` is above every ``seq`` ever handed out."""
        ...

    def latest_events(self, limit: int, account: str | None = None) -> list[dict[str, Any]]:
        """The newest ``limit`` events (of one account when ``account`` is given), oldest
        first, each with its ``seq``: the dashboard's live list."""
        ...

    def delete_visitor(self, visitor_id: str) -> int:
        """Delete every stored trace of one visitor (erasure); return how many events went."""
        ...

    def delete_received_before(self, cutoff: float) -> int:
        """Delete events received before ``cutoff`` (Unix seconds; retention); return how many."""
        ...

    def profile(self, visitor_id: str, account: str) -> VisitorProfile:
        """The visitor's profile (profile.py) in ``account`` ("" for events sent without
        one): every stored event of theirs folded in, each once. Kept at write time, in
        the transaction that stores the events, so reading it costs the same whatever
        the visitor's history."""
        ...

    def close(self) -> None:
        """Release the connection; the store is not used afterwards."""
        ...

    # Reports read pre-aggregated figures, kept up to date in the transaction of each
    # insert, so their cost does not grow with the number of stored events.
    # ``since_ms`` is a UTC midnight: the first day of the period.

    def campaign_counts(self, account: str, since_ms: int) -> dict[str, dict[str, int]]:
        """Per campaign name, its ``impression``, ``click`` and ``control`` events since then."""
        ...

    def exposure_outcomes(
        self, account: str, campaign: str, kind: str, goal_values: Sequence[str], since_ms: int, window_ms: int
    ) -> Outcome:
        """Visitors whose first ``kind`` (``impression`` or ``control``) exposure to ``campaign``
        falls in the period, and those who sent one of ``goal_values`` after it, within ``window_ms``."""
        ...

    def value_days(self, account: str, since_ms: int) -> list[tuple[str, str, int]]:
        """``(value, day, sessions)``: sessions that sent each custom data value, per UTC day."""
        ...

    def visitors_with_values(self, account: str, values: Sequence[str], since_ms: int) -> int:
        """Visitors who sent any of ``values`` in the period."""
        ...


def by_visitor(events: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], list[Mapping[str, Any]]]:
    """Newly stored events grouped by the profile they fold into, ``(visitor_id, account)``,
    each group in arrival order, the groups sorted (so that concurrent writers lock
    profiles in one order and never deadlock each other)."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for event in events:
        groups.setdefault((event["visitor_id"], event.get("account") or ""), []).append(event)
    return dict(sorted(groups.items()))
