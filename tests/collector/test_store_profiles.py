"""Each store keeps an event's props and answers a visitor's profile per account
(run once per store: the ``db`` fixture)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rtp_tag.collector.profile import fold_all
from rtp_tag.collector.stores import Store, open_store


def event(number: int, kind: str = "view", account: str = "acme", visitor: str = "v1", **props: str) -> dict[str, Any]:
    return {"type": kind, "values": ["x"] if kind == "event" else [], "event_id": f"e{number}",
            "session_id": "s1", "visitor_id": visitor, "account": account, "url": f"https://site.example/{number}",
            "referrer": "", "ts": 1000 + number, **({"props": props} if props else {})}


@pytest.fixture
def store(db: str) -> Iterator[Store]:
    opened = open_store(db)
    yield opened
    opened.close()


def test_props_are_stored_and_listed_as_an_object(store):
    store.add([event(1, customVar1="gold"), event(2, kind="event")])
    assert [e["props"] for e in store.events()] == [{"customVar1": "gold"}, {}]


def test_the_profile_folds_the_visitors_events_of_that_account_once_each(store):
    mine = [event(1, customVar1="gold"), event(2, kind="event"), event(3)]
    store.add(mine + [event(4, account="other"), event(5, visitor="v2")])
    store.add(mine)  # a resend is stored once, so folded once
    assert store.profile("v1", "acme") == fold_all(mine)
    assert store.profile("v1", "acme").custom_var("customVar1") == ("gold", (1001, 0))
    assert store.profile("v1", "") == fold_all([])


def test_a_sqlite_file_from_before_props_gains_the_column_and_keeps_its_events(tmp_path: Path):
    path = tmp_path / "events.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        """CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL, "values" TEXT NOT NULL, session_id TEXT NOT NULL, visitor_id TEXT NOT NULL,
        account TEXT NOT NULL, url TEXT NOT NULL, referrer TEXT NOT NULL, ts INTEGER NOT NULL,
        dropped INTEGER NOT NULL DEFAULT 0, received_at REAL NOT NULL);
        INSERT INTO events (event_id, type, "values", session_id, visitor_id, account, url, referrer, ts,
        received_at) VALUES ('old', 'view', '[]', 's1', 'v1', 'acme', 'https://site.example/', '', 5, 0);"""
    )
    old.commit()
    old.close()
    store = open_store(path)
    try:
        store.add([event(1, customVar2="new")])
        assert [(e["event_id"], e["props"]) for e in store.events()] == [("old", {}), ("e1", {"customVar2": "new"})]
        assert store.profile("v1", "acme").visits() == 1
    finally:
        store.close()
