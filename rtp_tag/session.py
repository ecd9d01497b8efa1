"""The visitor, the session, and the ledger of values already counted in the session.

The session lives in ``sessionStorage`` (one tab's session, surviving reloads) and
ends after a stretch without activity; the visitor id lives in ``localStorage``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .storage import Storage

SESSION_KEY = "rtp:session"
VISITOR_KEY = "rtp:visitor"
DEFAULT_SESSION_TIMEOUT = 30 * 60.0
"""Seconds without activity after which a session ends, as in the reference tag."""


@dataclass
class _SessionState:
    id: str
    last_active: float
    counted: list[str] = field(default_factory=list)


class SessionLedger:
    """Knows the current session and which custom data values it has counted."""

    def __init__(
        self,
        storage: Storage,
        new_id: Callable[[], str],
        timeout: float = DEFAULT_SESSION_TIMEOUT,
        *,
        copied_from_opener: bool = False,
    ) -> None:
        """``copied_from_opener``: this tab was opened by another, and browsers give
        such a tab a copy of the opener's sessionStorage. It is a new tab, so a new
        session: sharing the copied id with separate ledgers would count values twice."""
        self._storage = storage
        self._new_id = new_id
        self._timeout = timeout
        if copied_from_opener:
            storage.remove(SESSION_KEY)

    def touch(self, now: float) -> str:
        """Record activity at ``now`` and return the id of the (possibly new) session."""
        state = self._current(now)
        self._active_at(state, now)
        self._save(state)
        return state.id

    def count_new(self, values: Iterable[str], now: float) -> tuple[str, tuple[str, ...]]:
        """Mark ``values`` counted in this session; return the session id and the values
        not counted before. The caller sends only those, so each is sent once per session.
        """
        state = self._current(now)
        fresh: list[str] = []
        for value in values:
            if value not in state.counted and value not in fresh:
                fresh.append(value)
        state.counted.extend(fresh)
        self._active_at(state, now)
        self._save(state)
        return state.id, tuple(fresh)

    @staticmethod
    def _active_at(state: _SessionState, now: float) -> None:
        """Activity time never goes back: a call replayed with an older timestamp (one
        saved by an earlier page) must not make a later call look 30 minutes idle."""
        state.last_active = max(state.last_active, now)

    def _current(self, now: float) -> _SessionState:
        state = self._load()
        if state is None or now - state.last_active > self._timeout:
            return _SessionState(id=self._new_id(), last_active=now)
        return state

    def _load(self) -> _SessionState | None:
        raw = self._storage.get(SESSION_KEY)
        if not raw:
            return None
        try:
            data = json.loads(raw)
            state = _SessionState(
                id=str(data["id"]),
                last_active=float(data["last_active"]),
                counted=[str(value) for value in data["counted"]],
            )
        except (ValueError, KeyError, TypeError):
            return None  # unreadable state: start a fresh session rather than fail
        return state if state.id else None

    def _save(self, state: _SessionState) -> None:
        self._storage.set(
            SESSION_KEY,
            json.dumps({"id": state.id, "last_active": state.last_active, "counted": state.counted}),
        )


def visitor_id(storage: Storage, new_id: Callable[[], str]) -> str:
    """Return the visitor id kept in ``storage``, creating it on the first visit."""
    existing = storage.get(VISITOR_KEY)
    if existing:
        return existing
    created = new_id()
    storage.set(VISITOR_KEY, created)
    return created
