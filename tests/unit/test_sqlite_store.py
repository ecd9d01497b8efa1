"""The SQLite store's erasure and retention (server only: not run under Pyodide)."""

from __future__ import annotations

import sqlite3
import threading
import time
from functools import partial
from pathlib import Path

import pytest

from rtp_tag.collector.stores import SqliteStore, UnknownCursor, open_store
from rtp_tag.collector.stores import sqlite as sqlite_module

from sample_events import example_event

event = partial(example_event, values=["x"], url="https://site.example/", referrer=None, ts=1)


@pytest.fixture
def store(tmp_path: Path):
    opened = SqliteStore(tmp_path / "events.sqlite3")
    yield opened
    opened.close()


def test_deleting_a_visitor_removes_only_their_events_and_says_how_many(store):
    store.add([event(visitor_id="me"), event(visitor_id="them"), event(visitor_id="me")])
    assert store.delete_visitor("me") == 2
    assert store.events(visitor_id="me") == []
    assert [row["visitor_id"] for row in store.events()] == ["them"]
    assert store.delete_visitor("me") == 0


def test_retention_deletes_events_received_before_the_cutoff_in_chunks(store, monkeypatch):
    monkeypatch.setattr(sqlite_module, "DELETE_CHUNK", 2)
    store.add([event() for _ in range(5)])
    cutoff = time.time() + 0.001
    time.sleep(0.01)
    kept = event()
    store.add([kept])
    assert store.delete_received_before(cutoff) == 5
    assert [row["event_id"] for row in store.events()] == [kept["event_id"]]
    assert store.delete_received_before(cutoff) == 0


def test_a_cursor_beyond_every_seq_ever_handed_out_is_refused(store):
    store.add([event(), event()])
    last = store.events()[-1]["seq"]
    assert store.events(after=last) == []
    store.delete_visitor("v" * 32)
    assert store.events(after=last) == []  # a cursor to deleted events is still one we handed out
    with pytest.raises(UnknownCursor):
        store.events(after=last + 1)


def test_commits_are_synced_fully_unless_the_url_asks_otherwise(tmp_path):
    full = open_store(tmp_path / "a.sqlite3")
    normal = open_store(f"sqlite:///{tmp_path}/b.sqlite3?synchronous=normal")
    try:
        assert full._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert normal._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    finally:
        full.close()
        normal.close()


WAIT = 30
"""Seconds a test waits for its threads: a bound on a hang, never a timing figure."""


def add_from_threads(store: SqliteStore, batches: dict[str, list[dict[str, Any]]]) -> dict[str, int | Exception]:
    """``store.add`` each batch from a thread of its own; each caller checks, as soon as
    it is answered, that another connection already reads its new events (committed)."""
    outcomes: dict[str, int | Exception] = {}

    def send(name: str, batch: list[dict[str, Any]]) -> None:
        try:
            outcomes[name] = store.add(batch)
        except (sqlite3.Error, OverflowError) as problem:
            outcomes[name] = problem
            return
        reader = sqlite3.connect(store_path[store])
        try:
            ids = [e["event_id"] for e in batch]
            marks = ", ".join("?" for _ in ids)
            found = reader.execute(f"SELECT count(*) FROM events WHERE event_id IN ({marks})", ids).fetchone()[0]
        finally:
            reader.close()
        assert found == len(set(ids)), f"{name} was answered before its events were committed"

    threads = [threading.Thread(target=send, args=item) for item in batches.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
        assert not thread.is_alive()
    return outcomes


store_path: dict[SqliteStore, Path] = {}


@pytest.fixture
def watched_store(tmp_path: Path):
    path = tmp_path / "events.sqlite3"
    opened = SqliteStore(path)
    store_path[opened] = path
    yield opened
    opened.close()
    del store_path[opened]


def test_concurrent_adds_store_each_event_once_and_each_caller_gets_its_own_count(watched_store):
    shared = [event(visitor_id=f"visitor{n}", event_id=f"shared-{n}") for n in range(5)]
    batches = {
        f"batch{n}": [event(visitor_id=f"visitor{n % 7}") for _ in range(n % 4 + 1)] + shared[: n % 3]
        for n in range(30)
    }
    outcomes = add_from_threads(watched_store, batches)
    new_ones = {name: len(batch) - len(shared[: int(name[5:]) % 3]) for name, batch in batches.items()}
    shared_sent = {e["event_id"] for batch in batches.values() for e in batch if e["event_id"].startswith("shared")}
    assert sum(outcomes.values()) == sum(new_ones.values()) + len(shared_sent)
    for name, count in outcomes.items():  # its own events, plus the shared ones it happened to send first
        assert new_ones[name] <= count <= new_ones[name] + int(name[5:]) % 3
    rows = watched_store.events()
    assert len(rows) == len({e["event_id"] for batch in batches.values() for e in batch})
    assert len({row["event_id"] for row in rows}) == len(rows)


def test_adds_that_share_a_commit_fail_alone_and_count_a_shared_event_once(watched_store):
    watched_store._lock.acquire()  # holds the next commit back, so the adds below queue behind it
    try:
        leader = threading.Thread(target=watched_store.add, args=([event(event_id="leader")],))
        leader.start()
        batches = {
            "first": [event(event_id="twice"), event(event_id="first-own")],
            "second": [event(event_id="twice"), event(event_id="second-own")],
            # a timestamp past SQLite's integers (the collector's checks stop it long before)
            "refused": [event(event_id="refused-own"), event(ts=2**64, event_id="refused-bad")],
        }
        outcomes: dict[str, int | Exception] = {}
        senders = threading.Thread(target=lambda: outcomes.update(add_from_threads(watched_store, batches)))
        senders.start()
        for _ in range(WAIT * 100):
            with watched_store._adds._mutex:
                if len(watched_store._adds._queued) == 3:  # the three batches, behind the leader's
                    break
            time.sleep(0.01)
        else:
            raise AssertionError("the adds never queued")
    finally:
        watched_store._lock.release()
    leader.join(WAIT)
    senders.join(WAIT)
    assert sorted([outcomes["first"], outcomes["second"]]) == [1, 2]  # "twice" counted by one of them
    assert isinstance(outcomes["refused"], OverflowError)
    stored = sorted(row["event_id"] for row in watched_store.events())
    assert stored == ["first-own", "leader", "second-own", "twice"]  # none of the refused batch


def _waiting_for_a_file_lock(path: Path) -> bool:
    """Whether some process or thread waits for a flock on ``path`` (Linux: /proc/locks
    lists each waiter as ``N: -> FLOCK ...`` with the file's device and inode)."""
    inode = f":{path.stat().st_ino} "
    return any("->" in line and inode in line for line in Path("/proc/locks").read_text().splitlines())


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="watches /proc/locks, which only Linux has")
def test_a_second_worker_waits_for_the_first_ones_write_instead_of_failing_busy(tmp_path, monkeypatch):
    """Two stores on one file, as two ``--workers`` processes hold it: while one writes,
    the other's add waits for it and then stores its events, however long the first one
    took; without the writer lock, SQLite's busy handler gives up after BUSY_TIMEOUT."""
    monkeypatch.setattr(sqlite_module, "BUSY_TIMEOUT", 0.01)  # any wait past this was SQLite's busy handler failing
    path = tmp_path / "events.sqlite3"
    first, second = SqliteStore(path), SqliteStore(path)
    writing = threading.Event()
    finish = threading.Event()

    def slow_write() -> None:
        writing.set()
        assert finish.wait(WAIT)

    holder = threading.Thread(target=first._transaction, args=(slow_write,))
    holder.start()
    outcome: list[int | Exception] = []
    try:
        assert writing.wait(WAIT)
        waiter = threading.Thread(target=lambda: outcome.append(second.add([event(event_id="waited")])))
        waiter.start()
        for _ in range(WAIT * 100):
            if _waiting_for_a_file_lock(Path(f"{path}{sqlite_module.WRITER_LOCK_SUFFIX}")):
                break
            time.sleep(0.01)
        else:
            raise AssertionError(f"the second store never waited for the writer lock (it answered {outcome})")
    finally:
        finish.set()
        holder.join(WAIT)
    waiter.join(WAIT)
    assert outcome == [1]
    assert [row["event_id"] for row in first.events()] == ["waited"]
    first.close()
    second.close()


def test_closing_a_store_twice_leaves_every_other_file_open(tmp_path):
    """A second close must not close a descriptor number that another file now holds
    (it did: a PostgreSQL socket opened after the first close lost its connection)."""
    store = SqliteStore(tmp_path / "events.sqlite3")
    store.close()
    with open(tmp_path / "other", "w") as other:  # may take the number the writer lock's file had
        store.close()
        other.write("still open")
    assert (tmp_path / "other").read_text() == "still open"
