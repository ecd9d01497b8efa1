import itertools
import json

import pytest

from rtp_tag.session import (
    DEFAULT_SESSION_TIMEOUT,
    SESSION_KEY,
    VISITOR_KEY,
    SessionLedger,
    visitor_id,
)
from rtp_tag.storage import GuardedStorage, MemoryStorage

MINUTE = 60.0
T0 = 1_700_000_000.0


def ids(prefix):
    counter = itertools.count(1)
    return lambda: f"{prefix}{next(counter)}"


def ledger(storage=None, timeout=DEFAULT_SESSION_TIMEOUT):
    return SessionLedger(storage if storage is not None else MemoryStorage(), ids("s"), timeout)


def test_the_default_session_ends_after_30_minutes_as_in_the_reference():
    assert DEFAULT_SESSION_TIMEOUT == 30 * MINUTE


def test_a_value_is_sent_once_per_session():
    sessions = ledger()
    assert sessions.count_new(["MyEvent"], T0) == ("s1", ("MyEvent",))
    assert sessions.count_new(["MyEvent"], T0 + 1) == ("s1", ())


def test_from_an_array_only_the_already_sent_values_drop():
    sessions = ledger()
    sessions.count_new(["A", "B"], T0)
    assert sessions.count_new(["B", "C", "A", "D"], T0 + 1) == ("s1", ("C", "D"))


def test_an_array_of_only_sent_values_leaves_nothing_to_send():
    sessions = ledger()
    sessions.count_new(["A", "B"], T0)
    assert sessions.count_new(["B", "A"], T0 + 1)[1] == ()


def test_a_value_repeated_within_one_call_is_sent_once():
    assert ledger().count_new(["A", "A", "B"], T0)[1] == ("A", "B")


def test_the_session_survives_29_minutes_of_inactivity():
    sessions = ledger()
    first, _ = sessions.count_new(["A"], T0)
    assert sessions.count_new(["A"], T0 + 29 * MINUTE) == (first, ())


def test_the_session_ends_after_the_timeout_and_values_count_again():
    sessions = ledger()
    first, _ = sessions.count_new(["A"], T0)
    second, fresh = sessions.count_new(["A"], T0 + 30 * MINUTE + 1)
    assert second != first
    assert fresh == ("A",)


def test_activity_keeps_the_session_alive_beyond_the_timeout_from_its_start():
    sessions = ledger()
    first = sessions.touch(T0)
    sessions.touch(T0 + 20 * MINUTE)
    sessions.count_new(["A"], T0 + 40 * MINUTE)
    assert sessions.touch(T0 + 65 * MINUTE) == first


def test_a_configured_timeout_is_honoured():
    sessions = ledger(timeout=5 * MINUTE)
    first = sessions.touch(T0)
    assert sessions.touch(T0 + 4 * MINUTE) == first
    assert sessions.touch(T0 + 9 * MINUTE + 1) != first


def test_a_reload_keeps_the_session_and_what_it_counted():
    storage = MemoryStorage()
    before_reload = SessionLedger(storage, ids("page1-"))
    session_id, _ = before_reload.count_new(["MyEvent"], T0)
    after_reload = SessionLedger(storage, ids("page2-"))
    assert after_reload.count_new(["MyEvent", "Other"], T0 + 5) == (session_id, ("Other",))


def test_a_new_tab_has_its_own_session():
    first_tab = SessionLedger(MemoryStorage(), ids("a"))
    second_tab = SessionLedger(MemoryStorage(), ids("b"))
    one, _ = first_tab.count_new(["MyEvent"], T0)
    other, fresh = second_tab.count_new(["MyEvent"], T0)
    assert one != other
    assert fresh == ("MyEvent",)


def test_a_view_touch_and_an_event_share_the_session():
    sessions = ledger()
    assert sessions.touch(T0) == sessions.count_new(["A"], T0 + 1)[0]


@pytest.mark.parametrize(
    "stored",
    [
        "not json",
        "null",
        "[]",
        '"a string"',
        '{"id": "s9"}',
        '{"id": "s9", "last_active": "yesterday", "counted": []}',
        '{"id": "s9", "last_active": 1, "counted": 5}',
        '{"id": "", "last_active": 1, "counted": []}',
    ],
)
def test_unreadable_stored_state_starts_a_fresh_session(stored):
    storage = MemoryStorage({SESSION_KEY: stored})
    sessions = SessionLedger(storage, ids("fresh"))
    assert sessions.count_new(["A"], T0) == ("fresh1", ("A",))
    assert json.loads(storage.get(SESSION_KEY))["id"] == "fresh1"


def test_the_state_is_saved_in_the_session_key():
    storage = MemoryStorage()
    ledger(storage).count_new(["A", "B"], T0)
    saved = json.loads(storage.get(SESSION_KEY))
    assert saved == {"id": "s1", "last_active": T0, "counted": ["A", "B"]}


def test_the_visitor_id_is_created_once_and_then_kept():
    storage = MemoryStorage()
    first = visitor_id(storage, ids("v"))
    assert visitor_id(storage, ids("other")) == first
    assert storage.get(VISITOR_KEY) == first


def test_a_known_visitor_keeps_the_stored_id():
    storage = MemoryStorage({VISITOR_KEY: "returning-visitor"})
    assert visitor_id(storage, ids("v")) == "returning-visitor"


def test_storage_filling_up_mid_page_does_not_count_a_sent_value_again():
    class FillsUp(MemoryStorage):
        full = False

        def set(self, key, value):
            if self.full:
                raise RuntimeError("QuotaExceededError")
            super().set(key, value)

    primary = FillsUp()
    sessions = SessionLedger(GuardedStorage(primary, "sessionStorage", lambda message: None), ids("s"))
    first, _ = sessions.count_new(["MyEvent"], T0)
    primary.full = True
    assert sessions.count_new(["MyEvent", "Other"], T0 + 1) == (first, ("Other",))
    assert sessions.count_new(["Other"], T0 + 2) == (first, ())


def test_a_tab_opened_by_another_starts_its_own_session_from_the_copied_storage():
    storage = MemoryStorage()
    opener = SessionLedger(storage, iter(["s1", "s2"]).__next__)
    assert opener.count_new(["download"], 0.0) == ("s1", ("download",))
    copy = MemoryStorage(storage.items)  # what the browser gives the new tab
    opened = SessionLedger(copy, iter(["s2"]).__next__, copied_from_opener=True)
    assert opened.count_new(["download"], 1.0) == ("s2", ("download",))


def test_a_replayed_older_call_does_not_move_activity_back_and_split_the_session():
    """Bug 1 of issue 12: a call saved by an earlier page is replayed with its own, older
    timestamp; the session's activity time must stay at the latest call, or the next call
    looks idle for longer than the timeout and counts a value again in a new session."""
    book = ledger()
    first, _ = book.count_new(["A"], T0)
    replayed, _ = book.count_new(["Old"], T0 - 40 * MINUTE)
    later, fresh = book.count_new(["A"], T0 + 1)
    assert first == replayed == later
    assert fresh == ()
    assert book.touch(T0 - 50 * MINUTE) == first
    assert book.count_new(["A"], T0 + 2) == (first, ())
