"""Events in PostgreSQL, for any number of collector replicas on one database.

A pool of psycopg 3 connections per process; each write is one transaction. A
resent event (the same ``event_id`` through any replica) is stored once
(``ON CONFLICT DO NOTHING``). The schema is created and migrated at start under an
advisory lock, so replicas starting at once against an empty database take turns.

A database that cannot be reached at start raises ``StoreUnavailable`` naming the
URL without its password; lost while serving, each call raises ``StoreUnavailable``
(the collector answers 503 + Retry-After) until the pool reconnects by itself.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import errors
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from ...protocol import CAMPAIGN_EVENT_TYPES, JSON_FIELDS, STORED_FIELDS, stored_event
from ..profile import EMPTY_PROFILE, VisitorProfile, fold_all
from .base import MAX_PAGE, Outcome, StoreBusy, StoreUnavailable, UnknownCursor, by_visitor

SCHEMA_VERSION = 5


def _fold_stored_events(conn: psycopg.Connection[Any]) -> None:
    """Migration 3: a profile for every (visitor, account) with events, folded in arrival order."""
    with conn.cursor(name="events_to_fold", row_factory=dict_row) as rows:  # server-side: streams
        rows.execute(f"SELECT {_COLUMN_LIST} FROM events ORDER BY visitor_id, account, seq")
        for (visitor, account), group in itertools.groupby(rows, key=lambda e: (e["visitor_id"], e["account"])):
            conn.execute(_NEW_PROFILE, (visitor, account, fold_all(group).to_json()))


_MIGRATIONS: dict[int, tuple[str | Callable[[psycopg.Connection[Any]], None], ...]] = {
    1: (
        """CREATE TABLE events (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            event_id text NOT NULL UNIQUE,
            type text NOT NULL,
            "values" jsonb NOT NULL,
            session_id text NOT NULL,
            visitor_id text NOT NULL,
            account text NOT NULL,
            url text NOT NULL,
            referrer text NOT NULL,
            ts bigint NOT NULL,
            dropped bigint NOT NULL DEFAULT 0,
            received_at double precision NOT NULL
        )""",
        "CREATE INDEX events_by_visitor ON events (visitor_id, seq)",
        "CREATE INDEX events_by_received_at ON events (received_at)",
    ),
    2: ("ALTER TABLE events ADD COLUMN props jsonb NOT NULL DEFAULT '{}'",),
    3: (
        """CREATE TABLE profiles (
            visitor_id text NOT NULL,
            account text NOT NULL,
            profile jsonb NOT NULL,
            PRIMARY KEY (visitor_id, account)
        )""",
        _fold_stored_events,
    ),
    # What reports read, kept by triggers in the transaction that inserts the event (a
    # duplicate is ignored before it reaches them), so a report never scans the events.
    # The same tables and rules as the SQLite store's.
    4: ("""
    CREATE TABLE campaign_days (
        account text NOT NULL, campaign text NOT NULL, day text NOT NULL, kind text NOT NULL,
        events bigint NOT NULL,
        PRIMARY KEY (account, campaign, day, kind)
    );
    CREATE TABLE exposures (
        account text NOT NULL, campaign text NOT NULL, kind text NOT NULL, visitor_id text NOT NULL,
        first_ts bigint NOT NULL,
        PRIMARY KEY (account, campaign, kind, visitor_id)
    );
    CREATE TABLE exposure_sessions (
        account text NOT NULL, campaign text NOT NULL, kind text NOT NULL, session_id text NOT NULL,
        visitor_id text NOT NULL, first_ts bigint NOT NULL,
        PRIMARY KEY (account, campaign, kind, session_id)
    );
    CREATE TABLE value_sessions (
        account text NOT NULL, value text NOT NULL, session_id text NOT NULL, visitor_id text NOT NULL,
        first_ts bigint NOT NULL, day text NOT NULL,
        PRIMARY KEY (account, value, session_id)
    );
    CREATE INDEX value_sessions_by_visitor ON value_sessions (account, value, visitor_id, first_ts);
    CREATE TABLE value_days (
        account text NOT NULL, value text NOT NULL, day text NOT NULL, sessions bigint NOT NULL,
        PRIMARY KEY (account, value, day)
    );
    CREATE FUNCTION rtp_utc_day(ms bigint) RETURNS text LANGUAGE sql IMMUTABLE
        AS $$ SELECT to_char(to_timestamp(ms / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD') $$;
    CREATE FUNCTION rtp_roll_up_event() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.type IN ('impression', 'click', 'control') THEN
            INSERT INTO campaign_days
            VALUES (NEW.account, NEW.props->>'campaign', rtp_utc_day(NEW.ts), NEW.type, 1)
            ON CONFLICT (account, campaign, day, kind) DO UPDATE SET events = campaign_days.events + 1;
            IF NEW.type <> 'click' THEN
                INSERT INTO exposures VALUES (NEW.account, NEW.props->>'campaign', NEW.type, NEW.visitor_id, NEW.ts)
                ON CONFLICT (account, campaign, kind, visitor_id)
                DO UPDATE SET first_ts = least(exposures.first_ts, excluded.first_ts);
                INSERT INTO exposure_sessions
                VALUES (NEW.account, NEW.props->>'campaign', NEW.type, NEW.session_id, NEW.visitor_id, NEW.ts)
                ON CONFLICT (account, campaign, kind, session_id)
                DO UPDATE SET first_ts = least(exposure_sessions.first_ts, excluded.first_ts);
            END IF;
        ELSIF NEW.type = 'event' THEN
            INSERT INTO value_sessions
            SELECT NEW.account, value, NEW.session_id, NEW.visitor_id, NEW.ts, rtp_utc_day(NEW.ts)
            FROM jsonb_array_elements_text(NEW."values") AS value
            ON CONFLICT (account, value, session_id)
            DO UPDATE SET first_ts = least(value_sessions.first_ts, excluded.first_ts);
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER roll_up_event AFTER INSERT ON events FOR EACH ROW EXECUTE FUNCTION rtp_roll_up_event();
    CREATE FUNCTION rtp_count_value_session() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO value_days VALUES (NEW.account, NEW.value, NEW.day, 1)
        ON CONFLICT (account, value, day) DO UPDATE SET sessions = value_days.sessions + 1;
        RETURN NULL;
    END $$;
    CREATE TRIGGER count_value_session AFTER INSERT ON value_sessions
        FOR EACH ROW EXECUTE FUNCTION rtp_count_value_session();
    INSERT INTO value_sessions  -- values sent before reports existed still count for goals and segments
    SELECT e.account, value, e.session_id, e.visitor_id, min(e.ts), rtp_utc_day(min(e.ts))
    FROM events AS e, jsonb_array_elements_text(e."values") AS value WHERE e.type = 'event'
    GROUP BY e.account, value, e.session_id, e.visitor_id
    ON CONFLICT DO NOTHING;
    """,),
    # The rollups move from per-row triggers to ordered statements in ``add`` (see
    # ``_roll_up``): triggers locked the shared counter rows in each batch's order, and
    # concurrent batches deadlocked on them.
    5: ("""
    DROP TRIGGER roll_up_event ON events;
    DROP TRIGGER count_value_session ON value_sessions;
    DROP FUNCTION rtp_roll_up_event();
    DROP FUNCTION rtp_count_value_session();
    """,),
}
"""Each schema version's steps from the one before (statements, or functions for what
SQL alone cannot do); a database at version N runs N+1.. in order, in one transaction."""
_MIGRATION_LOCK = 0x7274_7074_6167  # "rtptag": the advisory lock replicas take turns on at start
_INSERT_LOCK = 0x7274_7074_6168
"""Held shared by every inserting transaction, and exclusively by a paging read: the
read then waits for inserts in flight, so no event can commit later with a ``seq``
below one the read hands out (a client paging with ``after`` would skip it)."""

_COLUMNS = (*STORED_FIELDS, "received_at")
_VISITOR_ROLLUPS = ("exposures", "exposure_sessions", "value_sessions")
"""Rollups holding visitor ids: erasure and retention delete from them too."""
_COLUMN_LIST = ", ".join(f'"{column}"' for column in _COLUMNS)
_INSERT_ROWS = 500
_NEXT_SEQS = "SELECT nextval('events_seq_seq') FROM generate_series(1, %s) ORDER BY 1"
"""Events an INSERT statement carries at most (PostgreSQL takes 65,535 parameters)."""
_PROFILE = "SELECT profile::text FROM profiles WHERE visitor_id = %s AND account = %s"
_NEW_PROFILE = "INSERT INTO profiles (visitor_id, account, profile) VALUES (%s, %s, %s::jsonb)"

POOL_SIZE = 8
"""Connections per process: enough for the threads that wait on the database at once."""
CONNECT_TIMEOUT = 5
"""Seconds to reach the database at start, and to get a connection while serving."""
DELETE_CHUNK = 10_000
"""Events deleted a transaction by retention, so a long purge never holds locks for long."""
_RETRIES = 3
"""Attempts of a transaction the database aborted for a conflict (a deadlock, say)."""

T = TypeVar("T")


def redacted(url: str) -> str:
    """``url`` with its password replaced by ``***``, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class PostgresStore:
    """The events table on a PostgreSQL server; safe to share between threads."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT) as conn:
                _migrate(conn)
        except psycopg.Error as problem:
            raise StoreUnavailable(f"cannot use the database at {redacted(url)}: {_first_line(problem, url)}") from None
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=POOL_SIZE,
            timeout=CONNECT_TIMEOUT,
            kwargs={"connect_timeout": CONNECT_TIMEOUT},
            open=True,
            name="rtp-tag",
        )

    def add(self, events: Iterable[dict[str, Any]]) -> int:
        """Store events not seen before (by ``event_id``), all or none, and fold each new
        one into its visitor's profile in the same transaction; return how many were new.

        Replicas adding events of one visitor at once take turns on the profile's row
        (locked by ``_fold_into_profiles``), so no fold is lost; profiles are locked in
        one order (sorted), and a deadlock the database still reports is retried."""
        now = time.time()
        stored = [stored_event(e) for e in events]

        def insert(conn: psycopg.Connection[Any]) -> int:
            conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (_INSERT_LOCK,))
            # Each event's seq in arrival order, then the rows inserted in event_id order:
            # two batches holding the same events in other orders would otherwise each
            # wait on an id the other inserted first (a deadlock).
            seqs = [seq for (seq,) in conn.execute(_NEXT_SEQS, (len(stored),))]
            in_id_order = sorted(zip(seqs, stored, strict=True), key=lambda pair: pair[1]["event_id"])
            new_ids: set[str] = set()
            for start in range(0, len(in_id_order), _INSERT_ROWS):
                chunk = in_id_order[start : start + _INSERT_ROWS]
                one = "(" + ", ".join(["%s"] * (len(_COLUMNS) + 1)) + ")"
                query = (
                    f"INSERT INTO events (seq, {_COLUMN_LIST}) OVERRIDING SYSTEM VALUE "
                    f"VALUES {', '.join([one] * len(chunk))} ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
                )
                params = [value for seq, event in chunk for value in (seq, *_values(event, now))]
                new_ids.update(row[0] for row in conn.execute(query.encode(), params))
            new = []
            for event in stored:  # each new event once, even if the request held it twice
                if event["event_id"] in new_ids:
                    new_ids.discard(event["event_id"])
                    new.append(event)
            if new:
                _roll_up(conn, new)
                _fold_into_profiles(conn, by_visitor(new))
            return len(new)

        return self._transaction(insert)

    def events(self, visitor_id: str | None = None, after: int = 0, limit: int = MAX_PAGE) -> list[dict[str, Any]]:
        """Up to ``limit`` events with ``seq`` above ``after``, oldest first (see ``Store``)."""
        query = f"SELECT seq, {_COLUMN_LIST} FROM events WHERE seq > %s"
        params: list[Any] = [after]
        if visitor_id is not None:
            query += " AND visitor_id = %s"
            params.append(visitor_id)
        query += " ORDER BY seq LIMIT %s"
        params.append(limit)

        def select(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_INSERT_LOCK,))
            if after > 0:
                handed_out = conn.execute(
                    "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM events_seq_seq"
                ).fetchone()
                if handed_out is None or after > handed_out[0]:
                    raise UnknownCursor(f"no event was ever stored with seq {after}")
            with conn.cursor(row_factory=dict_row) as cursor:
                return list(cursor.execute(query, params).fetchall())

        return self._transaction(select)

    def latest_events(self, limit: int, account: str | None = None) -> list[dict[str, Any]]:
        """The newest ``limit`` events, oldest first (see ``Store``)."""
        where, params = ("WHERE account = %s", [account, limit]) if account is not None else ("", [limit])
        query = f"SELECT seq, {_COLUMN_LIST} FROM events {where} ORDER BY seq DESC LIMIT %s"

        def select(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
            with conn.cursor(row_factory=dict_row) as cursor:
                return list(reversed(cursor.execute(query, params).fetchall()))

        return self._transaction(select)

    def delete_visitor(self, visitor_id: str) -> int:
        """Delete every stored trace of one visitor (events and profiles); return how many events went."""

        def delete(conn: psycopg.Connection[Any]) -> int:
            for table in ("profiles", *_VISITOR_ROLLUPS):  # the report's day counters hold no visitor ids
                conn.execute(f"DELETE FROM {table} WHERE visitor_id = %s", (visitor_id,))
            return conn.execute("DELETE FROM events WHERE visitor_id = %s", (visitor_id,)).rowcount

        return self._transaction(delete)

    def profile(self, visitor_id: str, account: str) -> VisitorProfile:
        """The visitor's profile in ``account``, as the last write left it: one row read."""
        row = self._transaction(lambda conn: conn.execute(_PROFILE, (visitor_id, account)).fetchone())
        return VisitorProfile.from_json(row[0]) if row else EMPTY_PROFILE

    def delete_received_before(self, cutoff: float) -> int:
        """Delete events received before ``cutoff``, a chunk a transaction; return how many."""
        deleted = 0
        while True:
            chunk = self._transaction(
                lambda conn: conn.execute(
                    "DELETE FROM events WHERE seq IN "
                    "(SELECT seq FROM events WHERE received_at < %s ORDER BY received_at LIMIT %s)",
                    (cutoff, DELETE_CHUNK),
                ).rowcount
            )
            deleted += chunk
            if chunk < DELETE_CHUNK:
                break

        def delete_old_rollups(conn: psycopg.Connection[Any]) -> None:
            for table in _VISITOR_ROLLUPS:  # by the time the visitor acted: the rollups keep no receipt time
                conn.execute(f"DELETE FROM {table} WHERE first_ts < %s", (int(cutoff * 1000),))

        self._transaction(delete_old_rollups)
        return deleted

    def campaign_counts(self, account: str, since_ms: int) -> dict[str, dict[str, int]]:
        rows = self._transaction(
            lambda conn: conn.execute(
                "SELECT campaign, kind, sum(events) FROM campaign_days WHERE account = %s AND day >= rtp_utc_day(%s) "
                "GROUP BY campaign, kind",
                (account, since_ms),
            ).fetchall()
        )
        counts: dict[str, dict[str, int]] = {}
        for campaign, kind, total in rows:
            counts.setdefault(campaign, {})[kind] = int(total)
        return counts

    def exposure_outcomes(
        self, account: str, campaign: str, kind: str, goal_values: Sequence[str], since_ms: int, window_ms: int
    ) -> Outcome:
        def count(conn: psycopg.Connection[Any]) -> Outcome:
            row = conn.execute(
                "SELECT count(*) FROM exposures WHERE account = %s AND campaign = %s AND kind = %s AND first_ts >= %s",
                (account, campaign, kind, since_ms),
            ).fetchone()
            visitors = row[0] if row else 0
            row = conn.execute(
                """SELECT coalesce(sum(direct::int), 0), count(*) FROM (
                    SELECT bool_or(EXISTS (
                        SELECT 1 FROM exposure_sessions AS s
                        WHERE s.account = e.account AND s.campaign = e.campaign AND s.kind = e.kind
                          AND s.session_id = v.session_id AND s.first_ts <= v.first_ts)) AS direct
                    FROM exposures AS e JOIN value_sessions AS v
                      ON v.account = e.account AND v.value = ANY(%s) AND v.visitor_id = e.visitor_id
                     AND v.first_ts >= e.first_ts AND v.first_ts <= e.first_ts + %s
                    WHERE e.account = %s AND e.campaign = %s AND e.kind = %s AND e.first_ts >= %s
                    GROUP BY e.visitor_id) AS converted""",
                (list(goal_values), window_ms, account, campaign, kind, since_ms),
            ).fetchone()
            direct, converted = (int(row[0]), int(row[1])) if row else (0, 0)
            return Outcome(int(visitors), direct, converted - direct)

        return self._transaction(count)

    def value_days(self, account: str, since_ms: int) -> list[tuple[str, str, int]]:
        rows = self._transaction(
            lambda conn: conn.execute(
                "SELECT value, day, sessions FROM value_days WHERE account = %s AND day >= rtp_utc_day(%s) "
                "ORDER BY day, value",
                (account, since_ms),
            ).fetchall()
        )
        return [(value, day, int(sessions)) for value, day, sessions in rows]

    def visitors_with_values(self, account: str, values: Sequence[str], since_ms: int) -> int:
        if not values:
            return 0
        row = self._transaction(
            lambda conn: conn.execute(
                "SELECT count(DISTINCT visitor_id) FROM value_sessions "
                "WHERE account = %s AND value = ANY(%s) AND first_ts >= %s",
                (account, list(values), since_ms),
            ).fetchone()
        )
        return int(row[0]) if row else 0

    def close(self) -> None:
        self._pool.close()

    def _transaction(self, work: Callable[[psycopg.Connection[Any]], T]) -> T:
        """``work`` in one transaction on a pooled connection. A lost database raises
        StoreUnavailable (its connection is dropped, the pool reconnects); a deadlock
        or serialization conflict is retried, then raises StoreBusy."""
        for attempt in range(_RETRIES):
            try:
                with self._pool.connection() as conn, conn.transaction():
                    return work(conn)
            except (errors.DeadlockDetected, errors.SerializationFailure) as problem:
                if attempt == _RETRIES - 1:
                    raise StoreBusy(str(problem)) from None
            except PoolTimeout:
                raise StoreUnavailable(f"no connection to {redacted(self.url)} within {CONNECT_TIMEOUT} s") from None
            except psycopg.OperationalError as problem:
                raise StoreUnavailable(_first_line(problem, self.url)) from None
        raise AssertionError("unreachable")


_ROLL_UP_CAMPAIGN_DAYS = """
INSERT INTO campaign_days
SELECT a, c, rtp_utc_day(t), k, count(*) FROM unnest(%s::text[], %s::text[], %s::text[], %s::bigint[]) AS r(a, c, k, t)
GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
ON CONFLICT (account, campaign, day, kind) DO UPDATE SET events = campaign_days.events + excluded.events
"""
_ROLL_UP_EXPOSURES = """
INSERT INTO exposures
SELECT a, c, k, v, min(t) FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::bigint[]) AS r(a, c, k, v, t)
WHERE k <> 'click' GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
ON CONFLICT (account, campaign, kind, visitor_id) DO UPDATE SET first_ts = least(exposures.first_ts, excluded.first_ts)
"""
_ROLL_UP_EXPOSURE_SESSIONS = """
INSERT INTO exposure_sessions
SELECT a, c, k, s, min(v), min(t)
FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::bigint[]) AS r(a, c, k, s, v, t)
WHERE k <> 'click' GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
ON CONFLICT (account, campaign, kind, session_id)
DO UPDATE SET first_ts = least(exposure_sessions.first_ts, excluded.first_ts)
"""
_ROLL_UP_VALUE_SESSIONS = """
INSERT INTO value_sessions
SELECT a, x, s, min(v), min(t), rtp_utc_day(min(t))
FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::bigint[]) AS r(a, x, s, v, t)
GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
ON CONFLICT (account, value, session_id) DO UPDATE SET first_ts = least(value_sessions.first_ts, excluded.first_ts)
RETURNING account, value, day, xmax = 0
"""
_ROLL_UP_VALUE_DAYS = """
INSERT INTO value_days
SELECT a, x, d, count(*) FROM unnest(%s::text[], %s::text[], %s::text[]) AS r(a, x, d)
GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
ON CONFLICT (account, value, day) DO UPDATE SET sessions = value_days.sessions + excluded.sessions
"""


def _roll_up(conn: psycopg.Connection[Any], new: list[dict[str, Any]]) -> None:
    """Count new events into the report rollups (the tables of schema version 4), as
    the SQLite store's triggers do. Each table's rows are locked in one order (the
    statements sort by key) and the tables in one order, so concurrent batches on any
    replicas wait for each other on the shared counter rows but never deadlock."""
    shown = [e for e in new if e["type"] in CAMPAIGN_EVENT_TYPES]
    if shown:
        accounts, campaigns, kinds, visitors, sessions, times = (
            list(column) for column in zip(
                *((e["account"], e["props"]["campaign"], e["type"], e["visitor_id"], e["session_id"], e["ts"])
                  for e in shown), strict=True,
            )
        )
        conn.execute(_ROLL_UP_CAMPAIGN_DAYS, (accounts, campaigns, kinds, times))
        conn.execute(_ROLL_UP_EXPOSURES, (accounts, campaigns, kinds, visitors, times))
        conn.execute(_ROLL_UP_EXPOSURE_SESSIONS, (accounts, campaigns, kinds, sessions, visitors, times))
    sent = [(e["account"], value, e["session_id"], e["visitor_id"], e["ts"])
            for e in new if e["type"] == "event" for value in e["values"]]
    if sent:
        first_sessions = [
            (account, value, day)
            for account, value, day, inserted in conn.execute(
                _ROLL_UP_VALUE_SESSIONS, [list(column) for column in zip(*sent, strict=True)]
            ).fetchall()
            if inserted
        ]
        if first_sessions:
            conn.execute(_ROLL_UP_VALUE_DAYS, [list(column) for column in zip(*first_sessions, strict=True)])


def _fold_into_profiles(conn: psycopg.Connection[Any], groups: dict[tuple[str, str], list[Any]]) -> None:
    """Fold each group of new events (in arrival order) into its visitor's profile, in
    three statements whatever the number of visitors: lock (creating missing rows) and
    read every profile, fold in Python, write every profile back.

    The first statement is an upsert whose update changes nothing: it locks each row
    until the transaction ends, an existing one or one just created, and returns it;
    a concurrent writer of the same visitor waits there, then folds into our result."""
    visitors = [visitor for visitor, _ in groups]
    accounts = [account for _, account in groups]
    locked = conn.execute(
        "INSERT INTO profiles (visitor_id, account, profile) "
        "SELECT v, a, '{}'::jsonb FROM unnest(%s::text[], %s::text[]) AS k(v, a) ORDER BY v, a "
        "ON CONFLICT (visitor_id, account) DO UPDATE SET profile = profiles.profile "
        "RETURNING visitor_id, account, profile::text",
        (visitors, accounts),
    ).fetchall()
    folded = {
        (visitor, account): fold_all(groups[visitor, account], VisitorProfile.from_json(profile)).to_json()
        for visitor, account, profile in locked
    }
    conn.execute(
        "UPDATE profiles SET profile = u.profile::jsonb "
        "FROM unnest(%s::text[], %s::text[], %s::text[]) AS u(v, a, profile) "
        "WHERE profiles.visitor_id = u.v AND profiles.account = u.a",
        ([v for v, _ in folded], [a for _, a in folded], list(folded.values())),
    )


def _values(event: dict[str, Any], received_at: float) -> tuple[Any, ...]:
    """``stored_event(...)``'s fields as column values, then ``received_at``."""
    return (*(Jsonb(event[name]) if name in JSON_FIELDS else event[name] for name in STORED_FIELDS), received_at)


def _migrate(conn: psycopg.Connection[Any]) -> None:
    """Bring the schema to ``SCHEMA_VERSION``, one replica at a time."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)")
        row = conn.execute("SELECT version FROM schema_version").fetchone()
        version = row[0] if row else 0
        if version > SCHEMA_VERSION:
            raise psycopg.DataError(
                f"the database's schema is version {version}, newer than this rtp-tag's "
                f"{SCHEMA_VERSION}: upgrade rtp-tag"
            )
        for step in range(version + 1, SCHEMA_VERSION + 1):
            for statement in _MIGRATIONS[step]:
                if callable(statement):
                    statement(conn)
                else:
                    conn.execute(statement.encode())
        if row is None:
            conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (SCHEMA_VERSION,))
        elif version != SCHEMA_VERSION:
            conn.execute("UPDATE schema_version SET version = %s", (SCHEMA_VERSION,))


def _first_line(problem: Exception, url: str) -> str:
    """The error's first line, without the URL's password should it appear."""
    text = str(problem).strip().splitlines()[0] if str(problem).strip() else type(problem).__name__
    password = urlsplit(url).password
    return text.replace(password, "***") if password else text
