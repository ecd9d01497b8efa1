"""The SQLite store's erasure and retention (server only: not run under Pyodide)."""

from __future__ import annotations

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
