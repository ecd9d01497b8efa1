"""Each store (SQLite, PostgreSQL) behind the one Store interface, in process.

Every test here runs once per store (the ``db`` fixture): the collector's answers
must not depend on which database a site chose.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest

from rtp_tag.collector.campaigns import parse_config
from rtp_tag.collector.profile import EMPTY_PROFILE, MAX_DISTINCT, fold_all
from rtp_tag.collector.segments import matched_segments
from rtp_tag.collector.stores import Store, StoreBusy, StoreUnavailable, UnknownCursor, open_store
from rtp_tag.protocol import stored_event

from sample_events import example_event as event


def run_at_once(targets: list[Callable[[], object]]) -> None:
    """Run each target on a thread of its own, all at once, and wait for every one."""
    threads = [threading.Thread(target=target) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@pytest.fixture
def store(db: str) -> Iterator[Store]:
    opened = open_store(db)
    yield opened
    opened.close()


def test_an_event_is_stored_once_however_often_it_is_added(store):
    sent = event()
    assert store.add([sent]) == 1
    assert store.add([sent]) == 0
    assert store.add([sent, event()]) == 1
    assert [e["event_id"] for e in store.events()].count(sent["event_id"]) == 1


def test_events_are_listed_oldest_first_with_the_fields_sent(store):
    first = event(values=["first", "second value"], ts=1)
    view = event(type="view", values=[], visitor_id="other", referrer=None, account=None, ts=2)
    assert store.add([first, view]) == 2
    listed = store.events()
    assert [e["event_id"] for e in listed] == [first["event_id"], view["event_id"]]
    for field in ("event_id", "type", "values", "session_id", "visitor_id", "account", "url", "referrer", "ts"):
        assert listed[0][field] == first[field], field
    assert (listed[1]["account"], listed[1]["referrer"], listed[1]["values"]) == ("", "", [])
    assert [e["event_id"] for e in store.events(visitor_id="other")] == [view["event_id"]]


def test_type_specific_fields_are_kept_in_props_and_listed_as_an_object(store):
    view = event(type="view", values=[], props={"customVar1": "gold", "customVar5": "x" * 100})
    plain = event()
    assert store.add([view, plain]) == 2
    assert [e["props"] for e in store.events()] == [{"customVar1": "gold", "customVar5": "x" * 100}, {}]


def test_a_reopened_store_keeps_its_events_and_schema(db, store):
    sent = event()
    store.add([sent])
    store.close()
    again = open_store(db)  # the schema is at its version already: nothing to migrate
    try:
        assert [e["event_id"] for e in again.events()] == [sent["event_id"]]
    finally:
        again.close()
    assert schema_version(db) >= 1


def test_two_replicas_on_one_database_store_a_resent_event_once_and_read_each_others_writes(db, store):
    other = open_store(db)
    try:
        sent = event()
        assert store.add([sent]) == 1
        assert [e["event_id"] for e in other.events()] == [sent["event_id"]]  # read your writes
        assert other.add([sent]) == 0  # the tag resent it to another replica
        assert len(store.events()) == 1
    finally:
        other.close()


def test_replicas_adding_the_same_events_at_once_store_each_once(db, store):
    replicas = [store, open_store(db), open_store(db)]
    batches = [[event(event_id=f"e{n}-{i}") for i in range(20)] for n in range(10)]
    stored: list[int] = []

    def send(replica: Store) -> None:
        for batch in batches:
            stored.append(replica.add(batch))

    try:
        run_at_once([lambda replica=replica: send(replica) for replica in replicas])
    finally:
        for replica in replicas[1:]:
            replica.close()
    assert sum(stored) == 200
    assert len(store.events()) == 200


def schema_version(db: str) -> int:
    if db.startswith("postgresql://"):
        with psycopg.connect(db) as conn:
            row = conn.execute("SELECT version FROM schema_version").fetchone()
            assert row is not None
            return int(row[0])
    with sqlite3.connect(db) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


# ---- PostgreSQL only: start-up, replicas starting at once, a lost database ----------


def test_replicas_starting_at_once_on_an_empty_database_all_start(postgres):
    url = postgres.create_database("starting_at_once")
    opened: list[Store] = []
    failures: list[BaseException] = []

    def start() -> None:
        try:
            opened.append(open_store(url))
        except BaseException as problem:  # noqa: BLE001 - reported below
            failures.append(problem)

    run_at_once([start] * 6)
    try:
        assert failures == []
        assert opened[0].add([event()]) == 1
        assert all(len(replica.events()) == 1 for replica in opened)
        assert schema_version(url) >= 1
    finally:
        for replica in opened:
            replica.close()


@pytest.mark.parametrize(
    "problem, cause",
    [("wrong password", "password authentication failed"), ("no such database", "does not exist")],
)
def test_a_database_that_refuses_at_start_is_named_without_its_password(postgres, problem, cause):
    url = postgres.url("postgres", password="not-the-password") if problem == "wrong password" else postgres.url("nope")
    with pytest.raises(StoreUnavailable) as raised:
        open_store(url)
    message = str(raised.value)
    assert f"rtp:***@127.0.0.1:{postgres.port}/" in message and cause in message
    assert "not-the-password" not in message and "throwaway-secret" not in message
    assert "\n" not in message


def test_an_unreachable_database_at_start_is_named_without_its_password(postgres):
    closed_port = postgres.port + 1 if postgres.port < 65535 else postgres.port - 1
    url = f"postgresql://rtp:s3cret@127.0.0.1:{closed_port}/events"
    with pytest.raises(StoreUnavailable) as raised:
        open_store(url)
    message = str(raised.value)
    assert f"postgresql://rtp:***@127.0.0.1:{closed_port}/events" in message
    assert "s3cret" not in message and "\n" not in message


def test_a_database_lost_while_serving_is_unavailable_then_recovers_by_itself(postgres):
    store = open_store(postgres.create_database("lost_while_serving"))
    try:
        assert store.add([event()]) == 1
        postgres.stop("immediate")  # as a crash would
        try:
            with pytest.raises(StoreUnavailable):
                store.add([event()])
        finally:
            postgres.start()
        deadline = time.monotonic() + 30
        while True:  # the pool reconnects in the background; the first calls may still fail
            try:
                assert store.add([event()]) == 1
                break
            except StoreUnavailable:
                assert time.monotonic() < deadline, "the store did not recover within 30 s"
                time.sleep(0.2)
        assert len(store.events()) == 2
    finally:
        store.close()


def test_a_page_waits_for_an_insert_in_flight_on_postgresql_so_paging_skips_no_event(postgres):
    """PostgreSQL hands out ``seq`` before commit: one replica's insert can commit after
    another's later one. A page read waits for inserts in flight rather than handing
    out a ``seq`` beyond one still to commit, which a client paging with ``after``
    would never see."""
    url = postgres.create_database("paging_in_flight")
    store = open_store(url)
    blocker = psycopg.connect(url)
    try:
        store.add([event(visitor_id="slow", values=["seed"])])
        blocker.execute("SELECT * FROM profiles WHERE visitor_id = 'slow' FOR UPDATE")  # holds the slow insert
        slow = threading.Thread(target=store.add, args=([event(visitor_id="slow", values=["slow"])],))
        slow.start()  # takes its seq, then waits on the profile row
        deadline = time.monotonic() + 30
        while not blocker.execute("SELECT 1 FROM pg_locks WHERE NOT granted").fetchone():
            assert time.monotonic() < deadline, "the slow insert never reached the profile row"
            time.sleep(0.05)
        store.add([event(visitor_id="fast", values=["fast"])])  # a later seq, committed first
        pages: list[list[dict]] = []
        reader = threading.Thread(target=lambda: pages.append(store.events()))
        reader.start()
        reader.join(timeout=2)  # unfixed, the read answers at once, without the slow event
        blocker.rollback()  # the slow insert goes on and commits
        slow.join(timeout=30)
        reader.join(timeout=30)
        assert [e["values"] for e in pages[0]] == [["seed"], ["slow"], ["fast"]]
        assert store.events(after=pages[0][-1]["seq"]) == []
    finally:
        blocker.close()
        store.close()


def test_concurrent_batches_on_postgresql_never_deadlock_and_count_each_event_once(postgres):
    """Batches of the tag's events arrive at once on replicas: each locks the rollups'
    shared counter rows (a campaign's day, a value's day) and the event ids in one
    order, so none waits out PostgreSQL's deadlock detection (and fails, then retries)."""
    url = postgres.create_database("concurrent_batches")
    database = url.rsplit("/", 1)[1]
    rng = random.Random(7)
    resent = [event(values=["shared"]) for _ in range(20)]

    def batch(number: int) -> list[dict]:
        batch = [event(values=rng.sample(["a", "b", "c", "d", "e"], 2), session_id=f"s{number % 5}") for _ in range(10)]
        batch += [event(type=kind, values=[], props={"campaign": rng.choice(["Hero", "Aside"])}, session_id=f"s{n}")
                  for n, kind in enumerate(rng.choices(["impression", "click", "control"], k=6))]
        batch += rng.sample(resent, 4)  # the same events resent, in other orders
        rng.shuffle(batch)
        return batch

    batches = [batch(number) for number in range(48)]
    stores = [open_store(url) for _ in range(3)]  # three replicas
    try:
        added: list[int] = []
        run_at_once(
            [lambda n=n: added.extend(stores[n % 3].add(batch) for batch in batches[n::8]) for n in range(8)]
        )
        distinct = {e["event_id"] for b in batches for e in b}
        assert sum(added) == len(distinct) == len(stores[0].events())
    finally:
        for store in stores:
            store.close()
    with psycopg.connect(postgres.url("postgres"), autocommit=True) as admin:
        # A closed connection's server process ends, and reports its counts, soon after.
        deadline = time.monotonic() + 30
        while admin.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (database,)).fetchone()[0]:
            assert time.monotonic() < deadline, "the stores' connections did not end"
            time.sleep(0.1)
        deadlocks = admin.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = %s", (database,)).fetchone()
    assert deadlocks == (0,)


def test_events_are_paged_by_seq_and_a_cursor_never_handed_out_is_refused(store):
    sent = [event(values=[f"e{i}"]) for i in range(5)]
    store.add(sent)
    first = store.events(limit=2)
    rest = store.events(after=first[-1]["seq"])
    assert [e["values"] for e in first + rest] == [[f"e{i}"] for i in range(5)]
    with pytest.raises(UnknownCursor):
        store.events(after=rest[-1]["seq"] + 1000)


def test_deleting_a_visitor_and_old_events_removes_only_those(store):
    mine, theirs = event(visitor_id="me"), event(visitor_id="them")
    store.add([mine, theirs])
    assert store.delete_visitor("me") == 1
    assert store.delete_visitor("me") == 0
    assert [e["visitor_id"] for e in store.events()] == ["them"]
    assert store.delete_received_before(time.time() - 3600) == 0
    assert store.delete_received_before(time.time() + 1) == 1
    assert store.events() == []


# ---- profiles: kept at write time, each new event folded once -------------------------


def test_the_profile_folds_each_newly_stored_event_once_per_account(store):
    first, view = event(values=["Download - Whitepaper"]), event(type="view", values=[])
    store.add([first, view, first])  # the same event twice in one request, too
    store.add([first])  # a resend: stored once, so folded once
    store.add([event(account="other")])
    mine = store.profile("v" * 32, "ACME-1")
    assert mine == fold_all([stored_event(first), stored_event(view)])
    assert "download - whitepaper" in mine.values
    assert store.profile("v" * 32, "other").folded == 1
    assert store.profile("nobody", "ACME-1") == EMPTY_PROFILE


def test_no_fold_is_lost_when_replicas_add_events_of_one_visitor_at_once(db, store):
    replicas = [store, open_store(db), open_store(db)]
    per_thread = 30

    def send(replica: Store, thread: int) -> None:
        for n in range(per_thread):
            while True:
                try:
                    replica.add([event(event_id=f"t{thread}-{n}", values=[f"value {thread}-{n}"])])
                    break
                except StoreBusy:  # SQLite: another writer held the file too long; the tag retries
                    time.sleep(0.05)

    try:
        run_at_once([lambda t=t: send(replicas[t % 3], t) for t in range(6)])
    finally:
        for replica in replicas[1:]:
            replica.close()
    profile = store.profile("v" * 32, "ACME-1")
    assert profile.folded == 6 * per_thread
    assert len(profile.values) == min(6 * per_thread, MAX_DISTINCT)


def test_a_segment_entered_before_10000_later_events_still_holds(store):
    config = parse_config(
        '[[segments]]\nid = "wp"\nname = "Downloaders"\ncustom_data = "download"\n', "campaigns.toml"
    )
    store.add([event(values=["download"], ts=1)])
    for start in range(0, 10_001, 500):  # more than the old 10,000-event read cap
        store.add([event(type="view", values=[], ts=2 + start + i) for i in range(500)])
    profile = store.profile("v" * 32, "ACME-1")
    assert profile.folded == 1 + 10_500
    assert [segment.id for segment in matched_segments(config, profile)] == ["wp"]


def test_erasing_a_visitor_erases_their_profile(store):
    store.add([event(values=["download"])])
    store.delete_visitor("v" * 32)
    assert store.profile("v" * 32, "ACME-1") == EMPTY_PROFILE
