"""Events in SQLite: one connection, serialised by a lock, parameterised SQL only.

``event_id`` is unique, so a resent event is stored once however often it arrives.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .base import StoreBusy

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    "values" TEXT NOT NULL,
    session_id TEXT NOT NULL,
    visitor_id TEXT NOT NULL,
    account TEXT NOT NULL,
    url TEXT NOT NULL,
    referrer TEXT NOT NULL,
    ts INTEGER NOT NULL,
    dropped INTEGER NOT NULL DEFAULT 0,
    received_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_visitor ON events (visitor_id, seq);
"""

_COLUMNS = (
    "event_id", "type", "values", "session_id", "visitor_id",
    "account", "url", "referrer", "ts", "dropped", "received_at",
)
_COLUMN_LIST = ", ".join(f'"{column}"' for column in _COLUMNS)


BUSY_TIMEOUT = 1.0
"""Seconds a write waits for another holder of the database before giving up."""


class SqliteStore:
    """The events table; safe to share between the server's threads."""

    def __init__(self, path: str | Path) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT
        )
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)

    def add(self, events: Iterable[dict[str, Any]]) -> int:
        """Store events not seen before (by ``event_id``), all or none; return how many were new."""
        now = time.time()
        rows = [
            (
                e["event_id"], e["type"], json.dumps(list(e["values"])), e["session_id"],
                e["visitor_id"], e.get("account") or "", e["url"], e.get("referrer") or "",
                int(e["ts"]), int(e.get("dropped", 0)), now,
            )
            for e in events
        ]
        marks = ", ".join("?" for _ in _COLUMNS)
        with self._lock:
            before = self._db.total_changes
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as problem:
                raise StoreBusy(str(problem)) from None
            try:
                self._db.executemany(f"INSERT OR IGNORE INTO events ({_COLUMN_LIST}) VALUES ({marks})", rows)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return self._db.total_changes - before

    def events(self, visitor_id: str | None = None, limit: int = 10_000) -> list[dict[str, Any]]:
        """Stored events, oldest first; only one visitor's when ``visitor_id`` is given."""
        query = f"SELECT {_COLUMN_LIST} FROM events"
        params: Sequence[Any] = ()
        if visitor_id is not None:
            query += " WHERE visitor_id = ?"
            params = (visitor_id,)
        query += " ORDER BY seq DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(query, (*params, limit)).fetchall()
        return [_row(row) for row in reversed(rows)]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _row(row: sqlite3.Row) -> dict[str, Any]:
    event = dict(row)
    event["values"] = json.loads(event["values"])
    return event
