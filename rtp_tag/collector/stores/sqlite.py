"""Events in SQLite: one connection, serialised by a lock, parameterised SQL only.

``event_id`` is unique, so a resent event is stored once however often it arrives.
Writes are durable when they return (``synchronous=FULL`` in WAL mode): a 2xx from
``/collect`` survives a power cut, not only a killed process.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ...protocol import JSON_FIELDS, STORED_FIELDS, stored_event
from ..profile import EMPTY_PROFILE, VisitorProfile, fold_all
from .base import MAX_PAGE, StoreBusy, StoreUnavailable, UnknownCursor, by_visitor

T = TypeVar("T")
SCHEMA_VERSION = 3
"""Kept in the file's ``PRAGMA user_version``."""


def _fold_stored_events(db: sqlite3.Connection) -> None:
    """Migration 3: a profile for every (visitor, account) with events, folded in arrival order."""
    rows = db.execute(f"SELECT {_COLUMN_LIST} FROM events ORDER BY visitor_id, account, seq")
    for (visitor, account), group in itertools.groupby(
        (_row(row) for row in rows), key=lambda event: (event["visitor_id"], event["account"])
    ):
        db.execute(_SAVE_PROFILE, (visitor, account, fold_all(group).to_json()))


_MIGRATIONS: dict[int, tuple[str | Callable[[sqlite3.Connection], None], ...]] = {
    1: (  # IF NOT EXISTS: files written before schema versions already hold these
        """CREATE TABLE IF NOT EXISTS events (
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
        )""",
        "CREATE INDEX IF NOT EXISTS events_by_visitor ON events (visitor_id, seq)",
        "CREATE INDEX IF NOT EXISTS events_by_received_at ON events (received_at)",
    ),
    2: ("ALTER TABLE events ADD COLUMN props TEXT NOT NULL DEFAULT '{}'",),  # older rows: no props
    3: (
        """CREATE TABLE profiles (
            visitor_id TEXT NOT NULL,
            account TEXT NOT NULL,
            profile TEXT NOT NULL,
            PRIMARY KEY (visitor_id, account)
        ) WITHOUT ROWID""",
        _fold_stored_events,
    ),
}
"""Each schema version's steps from the one before (statements, or functions for what
SQL alone cannot do); a file at version N runs N+1.. in order, in one transaction."""

_COLUMNS = (*STORED_FIELDS, "received_at")
_COLUMN_LIST = ", ".join(f'"{column}"' for column in _COLUMNS)
_INSERT = f"INSERT OR IGNORE INTO events ({_COLUMN_LIST}) VALUES ({', '.join('?' for _ in _COLUMNS)})"
_SAVE_PROFILE = "INSERT OR REPLACE INTO profiles (visitor_id, account, profile) VALUES (?, ?, ?)"


BUSY_TIMEOUT = 1.0
"""Seconds a write waits for another holder of the database before giving up."""
DELETE_CHUNK = 5_000
"""Rows one retention transaction deletes, so a large purge never holds up ingest for long."""
SYNCHRONOUS = ("FULL", "NORMAL")
"""FULL (the default) syncs each commit; NORMAL (for measuring what FULL costs) may lose
the last commits in a power cut, though not in a crash of the process."""


class SqliteStore:
    """The events table; safe to share between the server's threads."""

    def __init__(self, path: str | Path, synchronous: str = "FULL") -> None:
        if synchronous not in SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS)}, not {synchronous!r}")
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT
        )
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            self._migrate()

    def _migrate(self) -> None:
        """Bring the file's schema to ``SCHEMA_VERSION`` in one transaction."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise StoreUnavailable(
                    f"the database's schema is version {version}, newer than this rtp-tag's "
                    f"{SCHEMA_VERSION}: upgrade rtp-tag"
                )
            for step in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[step]:
                    if callable(statement):
                        statement(self._db)
                    else:
                        self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def add(self, events: Iterable[dict[str, Any]]) -> int:
        """Store events not seen before (by ``event_id``), all or none, and fold each new
        one into its visitor's profile in the same transaction; return how many were new."""
        now = time.time()
        stored = [stored_event(e) for e in events]

        def insert() -> int:
            new = [e for e in stored if self._db.execute(_INSERT, _values(e, now)).rowcount == 1]
            for (visitor, account), group in by_visitor(new).items():
                row = self._db.execute(_PROFILE, (visitor, account)).fetchone()
                profile = VisitorProfile.from_json(row[0]) if row else EMPTY_PROFILE
                self._db.execute(_SAVE_PROFILE, (visitor, account, fold_all(group, profile).to_json()))
            return len(new)

        return self._transaction(insert)

    def events(self, visitor_id: str | None = None, after: int = 0, limit: int = MAX_PAGE) -> list[dict[str, Any]]:
        """Up to ``limit`` events with ``seq`` above ``after``, oldest first (see ``Store``)."""
        query = f"SELECT seq, {_COLUMN_LIST} FROM events WHERE seq > ?"
        params: Sequence[Any] = (after,)
        if visitor_id is not None:
            query += " AND visitor_id = ?"
            params = (after, visitor_id)
        query += " ORDER BY seq LIMIT ?"
        with self._lock:
            if after > 0:
                found = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
                if found is None or after > found[0]:
                    raise UnknownCursor(f"no event was ever stored with seq {after}")
            rows = self._db.execute(query, (*params, limit)).fetchall()
        return [_row(row) for row in rows]

    def delete_visitor(self, visitor_id: str) -> int:
        """Delete every stored trace of one visitor (events and profiles); return how many events went."""

        def delete() -> int:
            self._db.execute("DELETE FROM profiles WHERE visitor_id = ?", (visitor_id,))
            return self._db.execute("DELETE FROM events WHERE visitor_id = ?", (visitor_id,)).rowcount

        return self._transaction(delete)

    def delete_received_before(self, cutoff: float) -> int:
        """Delete events received before ``cutoff``, a chunk a transaction; return how many."""
        deleted = 0
        while True:
            chunk = self._write(
                "DELETE FROM events WHERE seq IN "
                "(SELECT seq FROM events WHERE received_at < ? ORDER BY received_at LIMIT ?)",
                [(cutoff, DELETE_CHUNK)],
            )
            deleted += chunk
            if chunk < DELETE_CHUNK:
                return deleted

    def profile(self, visitor_id: str, account: str) -> VisitorProfile:
        """The visitor's profile in ``account``, as the last write left it: one row read."""
        with self._lock:
            row = self._db.execute(_PROFILE, (visitor_id, account)).fetchone()
        return VisitorProfile.from_json(row[0]) if row else EMPTY_PROFILE

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _write(self, statement: str, rows: Sequence[Sequence[Any]]) -> int:
        """Run ``statement`` for each of ``rows`` in one transaction; return the rows changed."""

        def write() -> int:
            before = self._db.total_changes
            self._db.executemany(statement, rows)
            return self._db.total_changes - before

        return self._transaction(write)

    def _transaction(self, work: Callable[[], T]) -> T:
        """``work`` in one write transaction, which waits up to BUSY_TIMEOUT for another
        process's (StoreBusy after that); committed if it returns, rolled back if it raises."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as problem:
                raise StoreBusy(str(problem)) from None
            try:
                result = work()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return result


_PROFILE = "SELECT profile FROM profiles WHERE visitor_id = ? AND account = ?"


def _values(event: dict[str, Any], received_at: float) -> tuple[Any, ...]:
    """``stored_event(...)``'s fields as column values, then ``received_at``."""
    return (*(json.dumps(event[name]) if name in JSON_FIELDS else event[name] for name in STORED_FIELDS), received_at)


def _row(row: sqlite3.Row) -> dict[str, Any]:
    event = dict(row)
    for name in JSON_FIELDS:
        event[name] = json.loads(event[name])
    return event
