"""Events in SQLite: one connection, serialised by a lock, parameterised SQL only.

``event_id`` is unique, so a resent event is stored once however often it arrives.
Writes are durable when they return (``synchronous=FULL`` in WAL mode): a 2xx from
``/collect`` survives a power cut, not only a killed process. Concurrent ``add`` calls
share one transaction and its one disk flush (group_commit.py), each call's events in
a savepoint of their own, so each call is still all or none.
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from ...protocol import JSON_FIELDS, STORED_FIELDS, stored_event
from ..profile import EMPTY_PROFILE, VisitorProfile, fold_all
from .base import MAX_PAGE, Outcome, StoreBusy, StoreUnavailable, UnknownCursor, by_visitor
from .group_commit import GroupCommit

if sys.platform == "win32":

    def _hold_writer_lock(fd: int, held: bool) -> None:
        """No flock on Windows: writers there take turns through SQLite's busy handler alone."""

else:
    import fcntl

    def _hold_writer_lock(fd: int, held: bool) -> None:
        """Take (waiting for its holder) or release the lock of the file ``fd``."""
        fcntl.flock(fd, fcntl.LOCK_EX if held else fcntl.LOCK_UN)


T = TypeVar("T")
SCHEMA_VERSION = 4
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
    4: (  # what reports read, kept by triggers in the transaction that inserts the event
        # (a duplicate is ignored before it reaches them), so a report never scans the events
        """CREATE TABLE campaign_days (
            account TEXT NOT NULL, campaign TEXT NOT NULL, day TEXT NOT NULL, kind TEXT NOT NULL,
            events INTEGER NOT NULL,
            PRIMARY KEY (account, campaign, day, kind)
        ) WITHOUT ROWID""",
        """CREATE TABLE exposures (
            account TEXT NOT NULL, campaign TEXT NOT NULL, kind TEXT NOT NULL, visitor_id TEXT NOT NULL,
            first_ts INTEGER NOT NULL,
            PRIMARY KEY (account, campaign, kind, visitor_id)
        ) WITHOUT ROWID""",
        """CREATE TABLE exposure_sessions (
            account TEXT NOT NULL, campaign TEXT NOT NULL, kind TEXT NOT NULL, session_id TEXT NOT NULL,
            visitor_id TEXT NOT NULL, first_ts INTEGER NOT NULL,
            PRIMARY KEY (account, campaign, kind, session_id)
        ) WITHOUT ROWID""",
        """CREATE TABLE value_sessions (
            account TEXT NOT NULL, value TEXT NOT NULL, session_id TEXT NOT NULL, visitor_id TEXT NOT NULL,
            first_ts INTEGER NOT NULL, day TEXT NOT NULL,
            PRIMARY KEY (account, value, session_id)
        ) WITHOUT ROWID""",
        "CREATE INDEX value_sessions_by_visitor ON value_sessions (account, value, visitor_id, first_ts)",
        """CREATE TABLE value_days (
            account TEXT NOT NULL, value TEXT NOT NULL, day TEXT NOT NULL, sessions INTEGER NOT NULL,
            PRIMARY KEY (account, value, day)
        ) WITHOUT ROWID""",
        """CREATE TRIGGER roll_up_campaign_event AFTER INSERT ON events
        WHEN NEW.type IN ('impression', 'click', 'control')
        BEGIN
            INSERT INTO campaign_days VALUES (
                NEW.account, json_extract(NEW.props, '$.campaign'),
                strftime('%Y-%m-%d', NEW.ts / 1000, 'unixepoch'), NEW.type, 1)
            ON CONFLICT DO UPDATE SET events = events + 1;
            INSERT INTO exposures
            SELECT NEW.account, json_extract(NEW.props, '$.campaign'), NEW.type, NEW.visitor_id, NEW.ts
            WHERE NEW.type <> 'click'
            ON CONFLICT DO UPDATE SET first_ts = min(first_ts, excluded.first_ts);
            INSERT INTO exposure_sessions
            SELECT NEW.account, json_extract(NEW.props, '$.campaign'), NEW.type, NEW.session_id,
                   NEW.visitor_id, NEW.ts
            WHERE NEW.type <> 'click'
            ON CONFLICT DO UPDATE SET first_ts = min(first_ts, excluded.first_ts);
        END""",
        """CREATE TRIGGER roll_up_values AFTER INSERT ON events
        WHEN NEW.type = 'event'
        BEGIN
            INSERT INTO value_sessions
            SELECT NEW.account, value, NEW.session_id, NEW.visitor_id, NEW.ts,
                   strftime('%Y-%m-%d', NEW.ts / 1000, 'unixepoch')
            FROM json_each(NEW."values") WHERE true
            ON CONFLICT DO UPDATE SET first_ts = min(first_ts, excluded.first_ts);
        END""",
        """CREATE TRIGGER count_value_session AFTER INSERT ON value_sessions
        BEGIN
            INSERT INTO value_days VALUES (NEW.account, NEW.value, NEW.day, 1)
            ON CONFLICT DO UPDATE SET sessions = sessions + 1;
        END""",
        # Values sent before reports existed still count for goals and segments.
        """INSERT OR IGNORE INTO value_sessions
        SELECT e.account, j.value, e.session_id, e.visitor_id, e.ts,
               strftime('%Y-%m-%d', e.ts / 1000, 'unixepoch')
        FROM events AS e, json_each(e."values") AS j WHERE e.type = 'event' ORDER BY e.ts""",
    ),
}
"""Each schema version's steps from the one before (statements, or functions for what
SQL alone cannot do); a file at version N runs N+1.. in order, in one transaction."""

_COLUMNS = (*STORED_FIELDS, "received_at")
_VISITOR_ROLLUPS = ("exposures", "exposure_sessions", "value_sessions")
"""Rollups holding visitor ids: erasure and retention delete from them too."""
_COLUMN_LIST = ", ".join(f'"{column}"' for column in _COLUMNS)
_INSERT = f"INSERT OR IGNORE INTO events ({_COLUMN_LIST}) VALUES ({', '.join('?' for _ in _COLUMNS)})"
_SAVE_PROFILE = "INSERT OR REPLACE INTO profiles (visitor_id, account, profile) VALUES (?, ?, ?)"


BUSY_TIMEOUT = 1.0
"""Seconds a write waits for another holder of the database before giving up."""
WRITER_LOCK_SUFFIX = "-writer"
"""The file beside the database whose lock (``flock``) the store's processes take in turn
to write: ``events.sqlite3-writer``, like SQLite's own ``-wal`` and ``-shm``."""
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
        self._writer = os.open(f"{path}{WRITER_LOCK_SUFFIX}", os.O_RDWR | os.O_CREAT, 0o644)
        self._adds: GroupCommit[_Batch, int] = GroupCommit(self._add_group)
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
        one into its visitor's profile in the same transaction; return how many were new.
        Returns once the commit holding them is on disk, which other threads' concurrent
        calls may share."""
        return self._adds.submit(_Batch([stored_event(e) for e in events], time.time()))

    def _add_group(self, batches: Sequence[_Batch]) -> list[int | Exception]:
        """Each batch in a savepoint of one transaction: one that fails is rolled back
        alone and gets its error; the others' events commit together."""

        def insert_each() -> list[int | Exception]:
            outcomes: list[int | Exception] = []
            for batch in batches:
                self._db.execute("SAVEPOINT batch")
                try:
                    outcomes.append(self._insert(batch))
                except Exception as problem:
                    self._db.execute("ROLLBACK TO batch")
                    outcomes.append(problem)
                self._db.execute("RELEASE batch")
            return outcomes

        return self._transaction(insert_each)

    def _insert(self, batch: _Batch) -> int:
        """Insert a batch's new events and fold them into their profiles; return how many were new."""
        new = [e for e in batch.events if self._db.execute(_INSERT, _values(e, batch.received_at)).rowcount == 1]
        for (visitor, account), group in by_visitor(new).items():
            row = self._db.execute(_PROFILE, (visitor, account)).fetchone()
            profile = VisitorProfile.from_json(row[0]) if row else EMPTY_PROFILE
            self._db.execute(_SAVE_PROFILE, (visitor, account, fold_all(group, profile).to_json()))
        return len(new)

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

    def latest_events(self, limit: int, account: str | None = None) -> list[dict[str, Any]]:
        """The newest ``limit`` events, oldest first (see ``Store``)."""
        where, params = ("WHERE account = ?", (account,)) if account is not None else ("", ())
        with self._lock:
            rows = self._db.execute(
                f"SELECT seq, {_COLUMN_LIST} FROM events {where} ORDER BY seq DESC LIMIT ?", (*params, limit)
            ).fetchall()
        return [_row(row) for row in reversed(rows)]

    def delete_visitor(self, visitor_id: str) -> int:
        """Delete every stored trace of one visitor (events and profiles); return how many events went."""

        def delete() -> int:
            for table in ("profiles", *_VISITOR_ROLLUPS):  # the report's day counters hold no visitor ids
                self._db.execute(f"DELETE FROM {table} WHERE visitor_id = ?", (visitor_id,))
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
                break

        def delete_old_rollups() -> None:
            for table in _VISITOR_ROLLUPS:  # by the time the visitor acted: the rollups keep no receipt time
                self._db.execute(f"DELETE FROM {table} WHERE first_ts < ?", (int(cutoff * 1000),))

        self._transaction(delete_old_rollups)
        return deleted

    def profile(self, visitor_id: str, account: str) -> VisitorProfile:
        """The visitor's profile in ``account``, as the last write left it: one row read."""
        with self._lock:
            row = self._db.execute(_PROFILE, (visitor_id, account)).fetchone()
        return VisitorProfile.from_json(row[0]) if row else EMPTY_PROFILE

    def campaign_counts(self, account: str, since_ms: int) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        with self._lock:
            rows = self._db.execute(
                "SELECT campaign, kind, sum(events) FROM campaign_days WHERE account = ? AND day >= ? "
                "GROUP BY campaign, kind",
                (account, _day(since_ms)),
            ).fetchall()
        for campaign, kind, total in rows:
            counts.setdefault(campaign, {})[kind] = total
        return counts

    def exposure_outcomes(
        self, account: str, campaign: str, kind: str, goal_values: Sequence[str], since_ms: int, window_ms: int
    ) -> Outcome:
        marks = ", ".join("?" for _ in goal_values) or "NULL"
        with self._lock:
            (visitors,) = self._db.execute(
                "SELECT count(*) FROM exposures WHERE account = ? AND campaign = ? AND kind = ? AND first_ts >= ?",
                (account, campaign, kind, since_ms),
            ).fetchone()
            direct, converted = self._db.execute(
                f"""SELECT coalesce(sum(direct), 0), count(*) FROM (
                    SELECT max(EXISTS (
                        SELECT 1 FROM exposure_sessions AS s
                        WHERE s.account = e.account AND s.campaign = e.campaign AND s.kind = e.kind
                          AND s.session_id = v.session_id AND s.first_ts <= v.first_ts)) AS direct
                    FROM value_sessions AS v CROSS JOIN exposures AS e  -- CROSS: the goal's sessions lead
                    WHERE v.account = ? AND v.value IN ({marks})
                      AND e.account = v.account AND e.campaign = ? AND e.kind = ? AND e.visitor_id = v.visitor_id
                      AND e.first_ts >= ? AND v.first_ts >= e.first_ts AND v.first_ts <= e.first_ts + ?
                    GROUP BY e.visitor_id)""",
                (account, *goal_values, campaign, kind, since_ms, window_ms),
            ).fetchone()
        return Outcome(visitors, direct, converted - direct)

    def value_days(self, account: str, since_ms: int) -> list[tuple[str, str, int]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT value, day, sessions FROM value_days WHERE account = ? AND day >= ? ORDER BY day, value",
                (account, _day(since_ms)),
            ).fetchall()
        return [tuple(row) for row in rows]

    def visitors_with_values(self, account: str, values: Sequence[str], since_ms: int) -> int:
        if not values:
            return 0
        marks = ", ".join("?" for _ in values)
        with self._lock:
            (visitors,) = self._db.execute(
                f"SELECT count(DISTINCT visitor_id) FROM value_sessions "
                f"WHERE account = ? AND value IN ({marks}) AND first_ts >= ?",
                (account, *values, since_ms),
            ).fetchone()
        return visitors

    def close(self) -> None:
        """Release the connection and the writer lock's file; a second call does nothing
        (closing the file's descriptor again could close another file that reused its number)."""
        with self._lock:
            self._db.close()
            if self._writer >= 0:
                os.close(self._writer)
                self._writer = -1

    def _write(self, statement: str, rows: Sequence[Sequence[Any]]) -> int:
        """Run ``statement`` for each of ``rows`` in one transaction; return the rows changed."""

        def write() -> int:
            before = self._db.total_changes
            self._db.executemany(statement, rows)
            return self._db.total_changes - before

        return self._transaction(write)

    def _transaction(self, work: Callable[[], T]) -> T:
        """``work`` in one write transaction; committed if it returns, rolled back if it
        raises. It first waits for the file's writer lock, held by this store's other
        processes (``--workers``) for the length of their write transactions: a waiter is
        woken as soon as it is released. SQLite's own wait for a writer (its busy handler,
        for a program that does not take that lock) sleeps 1, 2, 5, 10, 15, 20, 25... ms
        between tries and so gave up after BUSY_TIMEOUT (StoreBusy, a 503) while the other
        worker committed many times meanwhile (bench/ingest.py: 2 workers, batches of 20)."""
        with self._lock:
            _hold_writer_lock(self._writer, True)
            try:
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
            finally:
                _hold_writer_lock(self._writer, False)


_PROFILE = "SELECT profile FROM profiles WHERE visitor_id = ? AND account = ?"


class _Batch(NamedTuple):
    """One ``add`` call's events, as stored, and when they were received."""

    events: list[dict[str, Any]]
    received_at: float


def _values(event: dict[str, Any], received_at: float) -> tuple[Any, ...]:
    """``stored_event(...)``'s fields as column values, then ``received_at``."""
    return (*(json.dumps(event[name]) if name in JSON_FIELDS else event[name] for name in STORED_FIELDS), received_at)


def _day(ms: int) -> str:
    """The UTC day of a timestamp in milliseconds, as the rollups key it."""
    return time.strftime("%Y-%m-%d", time.gmtime(ms // 1000))


def _row(row: sqlite3.Row) -> dict[str, Any]:
    event = dict(row)
    for name in JSON_FIELDS:
        event[name] = json.loads(event[name])
    return event
