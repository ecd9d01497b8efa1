"""Five delivery bugs found in review (issue 12), each shown in real browsers against
the real collector: replayed calls keep the session and the lease right, a
``Retry-After: 0`` does not loop, the calls saved by pages whose tag could not start
are bounded, and taking over another tab's events keeps them stored if saving fails.

Saved calls (``rtp:early:*``) and orphaned outboxes are written into localStorage by
the test, exactly as a page whose tag could not start, or a closed tab, leaves them.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest

from rtp_tag.outbox import OUTBOX_PREFIX
from rtp_tag.pytest_plugin import TAG_READY

MINUTE_MS = 60_000
TAG_PAGE = '<!doctype html><html><head><script src="{tag}"></script><link rel="icon" href="data:,">%s</head><body></body></html>'
SAVE = "([key, calls]) => localStorage.setItem(key, JSON.stringify(calls))"



def saved_call(page_url: str, ts_ms: int, value: str) -> dict:
    """A call as the loader saves it for a later page."""
    return {"args": ["send", "event", {"value": value}],
            "meta": {"url": page_url, "referrer": "", "ts": ts_ms, "id": uuid.uuid4().hex}}


def early_key(ts_ms: int) -> str:
    return f"rtp:early:{ts_ms}:{uuid.uuid4().hex}"


def marker(page, collector, value: str = "marker") -> list[dict]:
    """Send a marker and wait for it: anything queued before it has been sent by then."""
    page.evaluate("value => rtp('send', 'event', {value: value})", value)
    collector.wait_for_events(1, where=lambda event: value in event["values"])
    return collector.events()


def test_a_replayed_older_call_does_not_split_the_session_and_count_a_value_twice(page, rtp_server, rtp_pages):
    """Bug 1: the replayed call's old timestamp moved the session's activity back 40
    minutes, so the page's own call a moment later opened a new session and counted A again."""
    first = rtp_pages.add("first.html", TAG_PAGE % "<script>rtp('send', 'view');</script>")
    second = rtp_pages.add("second.html", TAG_PAGE % "<script>rtp('send', 'event', {value: 'A'});</script>")
    page.goto(first)
    page.wait_for_function(TAG_READY)
    rtp_server.wait_for_events(1)
    now = page.evaluate("Date.now()")
    page.evaluate(SAVE, [early_key(now - 40 * MINUTE_MS), [saved_call(first, now - 40 * MINUTE_MS, "A")]])
    page.goto(second)
    page.wait_for_function(TAG_READY)
    events = marker(page, rtp_server)
    assert [event["values"] for event in events if event["type"] == "event"] == [["A"], ["marker"]]
    assert len({event["session_id"] for event in events}) == 1


def test_a_replayed_old_call_leaves_this_tab_a_live_lease(page, rtp_pages):
    """Bug 2: the outbox lease was written from the replayed call's timestamp, born
    expired, so another tab would take this live tab's events. The collector is held
    (no answer), so the events stay in this tab's outbox for the test to read."""
    page.route("**/collect", lambda route: None)
    url = rtp_pages.add("index.html", TAG_PAGE % "")
    blank = rtp_pages.add("blank.html", "<!doctype html><p>no tag</p>")
    page.goto(blank)
    now = page.evaluate("Date.now()")
    page.evaluate(SAVE, [early_key(now - 10 * MINUTE_MS), [saved_call(url, now - 10 * MINUTE_MS, "old")]])
    page.goto(url)
    page.wait_for_function(TAG_READY)
    leases = page.evaluate(f"""() => Object.keys(localStorage).filter(k => k.startsWith('{OUTBOX_PREFIX}'))
        .map(k => [JSON.parse(localStorage.getItem(k)).alive_until * 1000, Date.now()])""")
    [(alive_until, checked_at)] = leases
    assert alive_until > checked_at


RECORD_FETCH_TIMES = """<script>
  window.collectTimes = [];
  var realFetch = window.fetch;
  window.fetch = function (url) {
    if (String(url).indexOf('/collect') >= 0) collectTimes.push(performance.now());
    return realFetch.apply(this, arguments);
  };
</script>"""


@pytest.mark.parametrize("retry_after", ["0", "Thu, 01 Jan 2015 00:00:00 GMT"], ids=["zero", "past date"])
def test_a_retry_after_of_zero_or_the_past_waits_at_least_a_second(page, rtp_server, rtp_pages, retry_after):
    """Bug 3: such a Retry-After resent at once, in a loop. The times are the page's own
    record of each request's start: the floor is a lower bound the tag guarantees (a
    timer never fires early), so slowness can only widen the gaps."""
    page.route("**/collect", lambda route: route.fulfill(
        status=429, headers={"Retry-After": retry_after, "Access-Control-Allow-Origin": "*",
                             "Access-Control-Expose-Headers": "Retry-After"},
        content_type="application/json", body='{"error": "slow down"}'))
    page.goto(rtp_pages.add("index.html", TAG_PAGE % RECORD_FETCH_TIMES))
    page.wait_for_function(TAG_READY)
    page.evaluate("rtp('send', 'event', {value: 'throttled'})")
    page.wait_for_function("() => collectTimes.length >= 3")
    times = page.evaluate("collectTimes")
    gaps = [later - earlier for earlier, later in zip(times, times[1:3])]
    assert all(gap >= 990 for gap in gaps), gaps  # 1 s, less a timer's rounding
    page.unroute("**/collect")
    rtp_server.wait_for_events(1)
    assert [event["values"] for event in rtp_server.events()] == [["throttled"]]


def test_saved_calls_are_bounded_to_the_newest_20_pages_of_the_last_day(page, rtp_server, rtp_pages, rtp_console):
    """Bug 4: one rtp:early key per page view grew without bound and was replayed however old."""
    url = rtp_pages.add("index.html", TAG_PAGE % "")
    blank = rtp_pages.add("blank.html", "<!doctype html><p>no tag</p>")
    page.goto(blank)
    now = page.evaluate("Date.now()")
    for number in range(22):
        at = now - (22 - number) * MINUTE_MS
        page.evaluate(SAVE, [early_key(at), [saved_call(url, at, f"saved-{number:02}")]])
    day_old = now - 25 * 60 * MINUTE_MS
    page.evaluate(SAVE, [early_key(day_old), [saved_call(url, day_old, "day old")]])
    page.goto(url)
    page.wait_for_function(TAG_READY)
    events = marker(page, rtp_server)
    assert [event["values"][0] for event in events] == [f"saved-{number:02}" for number in range(2, 22)] + ["marker"]
    assert page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('rtp:early:'))") == []
    assert len([line for line in rtp_console if line.startswith("warning: rtp: dropped the calls saved by a page")]) == 3


FILL_STORAGE = """([orphanKey, orphan]) => {
  localStorage.setItem(orphanKey, orphan);
  let filler = 'x'.repeat(1 << 20), number = 0;
  while (filler.length >= 1) {
    try { localStorage.setItem('filler-' + number, filler); number += 1; }
    catch (error) { filler = filler.slice(0, filler.length >> 1); }
  }
  /* leave room for the tag's small writes (the visitor id), not for the adopted events */
  const small = Object.keys(localStorage).find(k => k.startsWith('filler-') && localStorage.getItem(k).length === 4096);
  localStorage.removeItem(small);
}"""


def test_taking_over_a_closed_tabs_events_keeps_them_stored_when_this_tabs_save_fails(page, rtp_server, rtp_pages):
    """Bug 5: the closed tab's key was removed before this tab's own save; when that save
    failed (a full quota), its events lived only in this page's memory."""
    url = rtp_pages.add("index.html", TAG_PAGE % "")
    blank = rtp_pages.add("blank.html", "<!doctype html><p>no tag</p>")
    page.goto(blank)
    ids = [uuid.uuid4().hex for _ in range(60)]
    entries = [{"event": {"type": "event", "values": [f"orphan-{number:02}-" + "x" * 200], "event_id": event_id,
                          "session_id": "closed-session", "visitor_id": "closed-visitor", "account": "",
                          "url": url, "referrer": "", "ts": int(time.time() * 1000)},
                "attempts": 0, "next_at": 0} for number, event_id in enumerate(ids)]
    orphan = json.dumps({"entries": entries, "dropped": 0, "alive_until": 0})
    page.evaluate(FILL_STORAGE, [OUTBOX_PREFIX + "closed-tab", orphan])
    page.goto(url)
    page.wait_for_function(TAG_READY)
    rtp_server.wait_for_events(60)  # delivered from this page's memory
    assert page.evaluate("key => localStorage.getItem(key)", OUTBOX_PREFIX + "closed-tab") == orphan
    assert sorted(event["event_id"] for event in rtp_server.events()) == sorted(ids)
