import json

from rtp_tag.outbox import (
    BATCH_BYTES,
    HEARTBEAT_SECONDS,
    LEASE_SECONDS,
    OUTBOX_PREFIX,
    Outbox,
)
from rtp_tag.protocol import MAX_BODY_BYTES, check_event
from rtp_tag.storage import GuardedStorage, MemoryStorage

T0 = 1_700_000_000.0


def event(event_id, *values, ts=None):
    return {
        "type": "event",
        "values": list(values) or [f"value-{event_id}"],
        "event_id": event_id,
        "session_id": "s1",
        "visitor_id": "v1",
        "account": "acme",
        "url": "https://site.example/page",
        "referrer": "",
        "ts": int((T0 if ts is None else ts) * 1000),
    }


def sent(batch):
    return [item["event_id"] for item in json.loads(batch.body)]


def deliver_all(outbox, now):
    """Take and acknowledge batches until nothing is due; return the event ids in order."""
    delivered = []
    while (batch := outbox.take(now)) is not None:
        delivered += sent(batch)
        outbox.acknowledge(batch, now)
    return delivered


def test_an_added_event_is_taken_as_a_json_array_body():
    outbox = Outbox(MemoryStorage(), "tab")
    outbox.add(event("e1"), T0)
    batch = outbox.take(T0)
    assert batch.event_ids == ("e1",)
    assert json.loads(batch.body) == [event("e1")]


def test_an_event_stays_until_it_is_acknowledged():
    outbox = Outbox(MemoryStorage(), "tab")
    outbox.add(event("e1"), T0)
    assert sent(outbox.take(T0)) == ["e1"]
    assert sent(outbox.take(T0 + 1)) == ["e1"]
    outbox.acknowledge(outbox.take(T0 + 2), T0 + 2)
    assert outbox.take(T0 + 3) is None
    assert len(outbox) == 0


def test_an_empty_outbox_leaves_nothing_in_storage():
    storage = MemoryStorage()
    outbox = Outbox(storage, "tab")
    outbox.add(event("e1"), T0)
    assert storage.keys() == [OUTBOX_PREFIX + "tab"]
    deliver_all(outbox, T0)
    assert storage.keys() == []


def test_events_persist_for_the_next_page_that_shares_the_storage():
    storage = MemoryStorage()
    leaving = Outbox(storage, "page1")
    leaving.add(event("e1"), T0)
    leaving.add(event("e2"), T0)
    leaving.release()  # pagehide
    next_page = Outbox(storage, "page2")
    assert deliver_all(next_page, T0 + 1) == ["e1", "e2"]
    assert storage.keys() == []


def test_a_page_that_vanished_without_pagehide_is_adopted_when_its_lease_runs_out():
    storage = MemoryStorage()
    crashed = Outbox(storage, "page1")
    crashed.add(event("e1"), T0)
    next_page = Outbox(storage, "page2")
    assert next_page.take(T0 + LEASE_SECONDS - 1) is None
    assert next_page.next_due(T0 + 1) == T0 + LEASE_SECONDS
    assert deliver_all(next_page, next_page.next_due(T0 + 1)) == ["e1"]


def test_two_live_tabs_never_take_each_others_events():
    storage = MemoryStorage()
    tab_a, tab_b = Outbox(storage, "a"), Outbox(storage, "b")
    tab_a.add(event("a1"), T0)
    tab_b.add(event("b1"), T0)
    for second in range(0, 60, 5):  # both tabs heartbeat while alive
        now = T0 + second
        tab_a.heartbeat(now)
        tab_b.heartbeat(now)
        assert sent(tab_a.take(now)) == ["a1"]
        assert sent(tab_b.take(now)) == ["b1"]


def test_an_event_in_flight_in_a_live_tab_is_not_taken_by_another():
    storage = MemoryStorage()
    tab_a, tab_b = Outbox(storage, "a"), Outbox(storage, "b")
    tab_a.add(event("a1"), T0)
    in_flight = tab_a.take(T0)
    tab_a.heartbeat(T0 + HEARTBEAT_SECONDS)
    assert tab_b.take(T0 + HEARTBEAT_SECONDS + 1) is None
    tab_a.acknowledge(in_flight, T0 + 6)
    assert tab_b.take(T0 + 100) is None


def test_a_closed_tabs_events_go_to_exactly_one_surviving_tab():
    storage = MemoryStorage()
    closed, tab_b, tab_c = Outbox(storage, "a"), Outbox(storage, "b"), Outbox(storage, "c")
    closed.add(event("a1"), T0)
    closed.add(event("a2"), T0)
    later = T0 + LEASE_SECONDS + 1
    assert sent(tab_b.take(later)) == ["a1", "a2"]
    assert tab_c.take(later) is None
    assert len(tab_b) == 2


def test_adopted_events_join_in_time_order():
    storage = MemoryStorage()
    closed, survivor = Outbox(storage, "a"), Outbox(storage, "b")
    closed.add(event("old", ts=T0), T0)
    survivor.add(event("new", ts=T0 + 20), T0 + 20)
    closed.add(event("older", ts=T0 - 5), T0)  # order in its own key does not matter
    assert deliver_all(survivor, T0 + LEASE_SECONDS + 10) == ["older", "old", "new"]


class QuotaStorage(MemoryStorage):
    """Local storage near its quota: any value longer than ``room`` characters is refused."""

    def __init__(self, room):
        super().__init__()
        self.room = room

    def set(self, key, value):
        if len(value) > self.room:
            raise RuntimeError("QuotaExceededError: the quota has been exceeded.")
        super().set(key, value)


def test_taking_over_a_closed_tabs_events_saves_them_before_removing_its_key():
    """Bug 5 of issue 12: when this tab's save of the adopted events fails (quota), the
    closed tab's key must still hold them, or they would live only in this page's memory."""
    primary = QuotaStorage(room=10_000)
    closed = Outbox(primary, "closed")
    for number in range(12):
        closed.add(event(f"c{number}"), T0)
    orphan = primary.get(OUTBOX_PREFIX + "closed")
    primary.room = len(orphan) - 1  # the adopting tab's own key cannot hold them all
    survivor = Outbox(GuardedStorage(primary, "localStorage", lambda message: None), "survivor")
    later = T0 + LEASE_SECONDS + 1
    assert len(sent(survivor.take(later))) == 12  # delivered from memory on this page
    assert primary.get(OUTBOX_PREFIX + "closed") == orphan  # and still saved for the next
    assert OUTBOX_PREFIX + "survivor" not in primary.keys()


def test_a_full_outbox_drops_the_oldest_and_reports_the_count_on_the_next_batch():
    outbox = Outbox(MemoryStorage(), "tab", max_events=3)
    for number in range(1, 6):
        outbox.add(event(f"e{number}"), T0)
    batch = outbox.take(T0)
    assert sent(batch) == ["e3", "e4", "e5"]
    assert batch.dropped == 2
    body = json.loads(batch.body)
    assert body[0]["dropped"] == 2
    assert all("dropped" not in item for item in body[1:])


def test_the_drop_count_is_cleared_once_acknowledged():
    outbox = Outbox(MemoryStorage(), "tab", max_events=1)
    outbox.add(event("e1"), T0)
    outbox.add(event("e2"), T0)
    outbox.acknowledge(outbox.take(T0), T0)
    outbox.add(event("e3"), T0 + 1)
    batch = outbox.take(T0 + 1)
    assert batch.dropped == 0
    assert "dropped" not in json.loads(batch.body)[0]


def test_a_drop_count_not_yet_reported_survives_the_ack_of_an_earlier_batch():
    outbox = Outbox(MemoryStorage(), "tab", max_events=2)
    outbox.add(event("e1"), T0)
    outbox.add(event("e2"), T0)
    outbox.add(event("e3"), T0)  # drops e1
    reported = outbox.take(T0)
    outbox.add(event("e4"), T0)  # drops e2 while the batch is in flight
    outbox.acknowledge(reported, T0)
    assert reported.dropped == 1
    assert outbox.take(T0).dropped == 1


def test_a_byte_cap_drops_the_oldest_events():
    big = "x" * 250
    one_event_bytes = len(json.dumps([{"event": event("e0", big), "attempts": 0, "next_at": T0}]))
    outbox = Outbox(MemoryStorage(), "tab", max_bytes=3 * one_event_bytes)
    for number in range(10):
        outbox.add(event(f"e{number}", big), T0)
    kept = deliver_all(outbox, T0)
    assert 1 <= len(kept) < 10
    assert kept == [f"e{number}" for number in range(10 - len(kept), 10)]


def test_the_stored_outbox_stays_within_its_byte_cap():
    storage = MemoryStorage()
    outbox = Outbox(storage, "tab", max_bytes=5_000)
    for number in range(100):
        outbox.add(event(f"e{number}", "y" * 200), T0)
    assert len(storage.get(OUTBOX_PREFIX + "tab")) <= 5_000 + 200
    assert outbox.take(T0).dropped > 0


def test_events_queued_together_go_in_one_batch():
    outbox = Outbox(MemoryStorage(), "tab")
    for number in range(5):
        outbox.add(event(f"e{number}"), T0)
    assert sent(outbox.take(T0)) == ["e0", "e1", "e2", "e3", "e4"]


def test_a_batch_stays_within_the_keepalive_budget_and_the_rest_follows():
    outbox = Outbox(MemoryStorage(), "tab")
    ids = [f"e{number:03}" for number in range(150)]
    for event_id in ids:
        outbox.add(event(event_id, "v" * 256, "w" * 256), T0)
    first = outbox.take(T0)
    assert len(first.body.encode()) <= BATCH_BYTES < MAX_BODY_BYTES
    assert 1 < len(first.event_ids) < len(ids)
    outbox.acknowledge(first, T0)
    assert list(first.event_ids) + deliver_all(outbox, T0) == ids


def test_a_small_budget_splits_batches():
    outbox = Outbox(MemoryStorage(), "tab")
    for number in range(4):
        outbox.add(event(f"e{number}"), T0)
    one = len(json.dumps([event("e0")]))
    batch = outbox.take(T0, budget=2 * one + 10)
    assert len(batch.event_ids) == 2


def test_every_batch_body_passes_the_collectors_validation():
    outbox = Outbox(MemoryStorage(), "tab", max_events=2)
    for number in range(3):
        outbox.add(event(f"e{number}"), T0)
    for item in json.loads(outbox.take(T0).body):
        check_event(item)


def test_an_event_retried_later_is_not_due_before_its_time():
    outbox = Outbox(MemoryStorage(), "tab")
    outbox.add(event("e1"), T0)
    outbox.retry_later(("e1",), T0 + 10, T0)
    assert outbox.take(T0 + 9.9) is None
    assert outbox.next_due(T0 + 8) == T0 + 10
    assert sent(outbox.take(T0 + 10)) == ["e1"]
    assert outbox.attempts("e1") == 1


def test_a_waiting_event_does_not_hold_back_a_due_one():
    outbox = Outbox(MemoryStorage(), "tab")
    outbox.add(event("e1"), T0)
    outbox.retry_later(("e1",), T0 + 60, T0)
    outbox.add(event("e2"), T0 + 1)
    assert sent(outbox.take(T0 + 1)) == ["e2"]


def test_solo_retry_sends_each_event_of_a_refused_batch_alone():
    outbox = Outbox(MemoryStorage(), "tab")
    for number in range(3):
        outbox.add(event(f"e{number}"), T0)
    outbox.retry_later(("e0", "e1", "e2"), T0, T0, solo=True)
    outbox.add(event("e3"), T0)
    batches = []
    while (batch := outbox.take(T0)) is not None:
        batches.append(sent(batch))
        outbox.acknowledge(batch, T0)
    assert batches[:3] == [["e0"], ["e1"], ["e2"]]
    assert batches[3:] == [["e3"]]


def test_expedite_makes_every_event_waiting_on_our_backoff_due_now():
    outbox = Outbox(MemoryStorage(), "tab")
    outbox.add(event("e1"), T0)
    outbox.add(event("e2"), T0)
    outbox.retry_later(("e1", "e2"), T0 + 300, T0)
    outbox.expedite(T0 + 1)
    assert sent(outbox.take(T0 + 1)) == ["e1", "e2"]


def test_expedite_keeps_a_wait_the_collector_asked_for():
    outbox = Outbox(MemoryStorage(), "tab")
    outbox.add(event("told"), T0)
    outbox.add(event("backoff"), T0)
    outbox.retry_later(("told",), T0 + 30, T0, told=True)
    outbox.retry_later(("backoff",), T0 + 30, T0)
    outbox.expedite(T0 + 1)
    assert sent(outbox.take(T0 + 1)) == ["backoff"]
    assert outbox.next_due(T0 + 1) <= T0 + 30


def test_the_next_page_retries_at_once_what_a_left_page_was_backing_off():
    storage = MemoryStorage()
    leaving = Outbox(storage, "page1")
    leaving.add(event("backoff"), T0)
    leaving.add(event("told"), T0)
    leaving.retry_later(("backoff",), T0 + 60, T0)
    leaving.retry_later(("told",), T0 + 60, T0, told=True)
    leaving.release()  # pagehide
    next_page = Outbox(storage, "page2")
    assert sent(next_page.take(T0 + 2)) == ["backoff"]
    assert sent(next_page.take(T0 + 59)) == ["backoff"]  # unacknowledged, and told still waits
    assert sent(next_page.take(T0 + 60)) == ["backoff", "told"]


def test_a_discarded_event_is_gone():
    outbox = Outbox(MemoryStorage(), "tab")
    outbox.add(event("bad"), T0)
    outbox.add(event("good"), T0)
    outbox.discard(("bad",), T0)
    assert deliver_all(outbox, T0) == ["good"]


def test_next_due_asks_for_a_heartbeat_while_events_wait():
    outbox = Outbox(MemoryStorage(), "tab")
    assert outbox.next_due(T0) is None
    outbox.add(event("e1"), T0)
    outbox.retry_later(("e1",), T0 + 600, T0)
    assert outbox.next_due(T0) == T0 + HEARTBEAT_SECONDS


def test_unreadable_stored_outboxes_are_treated_as_empty():
    storage = MemoryStorage({OUTBOX_PREFIX + "tab": "{not json", OUTBOX_PREFIX + "other": "[1, 2]"})
    outbox = Outbox(storage, "tab")
    assert outbox.take(T0 + LEASE_SECONDS * 2) is None
    outbox.add(event("e1"), T0)
    assert deliver_all(outbox, T0) == ["e1"]
