"""Nothing lost, nothing doubled: delivery through navigation, early clicks and
collector outages (issue 3), against the real collector in real browsers."""

from __future__ import annotations

import random
import shutil
import sqlite3
import threading
import time
from collections import Counter

import pytest

from rtp_tag.pytest_plugin import TAG_READY, Collector

BUTTON_PAGE = """<!doctype html><html><head><script src="{tag}"></script></head>
<body><button id="go" data-rtp-event="%s">Go</button><a id="next" href="next.html">next</a></body></html>"""
NEXT_PAGE = '<!doctype html><html><head><script src="{tag}"></script></head><body>next</body></html>'
RECOVERY = 60.0
"""Seconds to wait for delivery after an outage: backoff is capped at 60 s, but a
success makes every waiting event due at once, so this is rarely approached."""


def _collect_failed(page) -> object:
    return page.expect_event("requestfailed", lambda request: request.url.endswith("/collect"))


def _values(collector: Collector) -> Counter[str]:
    return Counter(value for event in collector.events() for value in event["values"])


def test_a_data_rtp_event_link_navigates_at_once_and_its_event_arrives_once(page, rtp_server, rtp_pages):
    url = rtp_pages.add(
        "index.html",
        '<script src="{tag}"></script><a id="link" href="next.html" data-rtp-event="read more">Read more</a>',
    )
    next_url = rtp_pages.add("next.html", NEXT_PAGE)
    page.goto(url)
    page.wait_for_function(TAG_READY)
    page.click("#link")
    page.wait_for_url(next_url)  # the click was not held back or cancelled
    page.wait_for_function(TAG_READY)
    page.evaluate("rtp('send', 'event', {value: 'marker'})")
    rtp_server.wait_for_events(2)
    # The next page's tag sent its own event after resending whatever was left: the
    # link's event is stored exactly once, and before the marker.
    assert [event["values"] for event in rtp_server.events()] == [["read more"], ["marker"]]
    assert rtp_server.events()[0]["url"] == url


def test_a_click_before_the_runtime_is_ready_then_navigation_arrives_once(page, rtp_server, rtp_pages):
    url = rtp_pages.add("index.html", BUTTON_PAGE % "early bird")
    next_url = rtp_pages.add("next.html", NEXT_PAGE)
    held: list[object] = []

    def slow_first_runtime(route) -> None:
        """A slow network: the first page's runtime never arrives before the visitor leaves."""
        if held or route.request.method != "GET":  # the loader's HEAD check passes through
            route.continue_()
        else:
            held.append(route)

    page.route("**/*.wasm*", slow_first_runtime)
    page.goto(url, wait_until="domcontentloaded")
    page.click("#go")
    assert page.evaluate("rtp.loaded") is False
    page.goto(next_url)
    page.wait_for_function(TAG_READY)
    page.unroute_all(behavior="ignoreErrors")
    page.evaluate("rtp('send', 'event', {value: 'marker'})")
    rtp_server.wait_for_events(2)
    events = rtp_server.events()
    assert [event["values"] for event in events] == [["early bird"], ["marker"]]
    assert events[0]["url"] == url  # recorded as clicked, on the first page


def test_an_event_sent_while_the_collector_is_down_arrives_once_after_restart(page, rtp_server, rtp_pages):
    page.goto(rtp_pages.add("index.html", BUTTON_PAGE % "during outage"))
    page.wait_for_function(TAG_READY)
    rtp_server.stop()
    with _collect_failed(page):
        page.click("#go")
    rtp_server.start()
    events = rtp_server.wait_for_events(1, timeout=RECOVERY)
    assert [event["values"] for event in events] == [["during outage"]]


def test_an_event_from_a_page_left_during_an_outage_is_delivered_by_the_next_page(
    page, rtp_server, rtp_pages, tmp_path
):
    # The tag's files come from a static host that stays up (as from a CDN) while the
    # collector, named by data-endpoint, is down: the next page's tag can load.
    assets = Collector(rtp_server.dist, tmp_path / "assets.sqlite3")
    assets.start()
    try:
        head = f'<script src="{assets.tag_url}" data-endpoint="{{collector}}"></script>'
        url = rtp_pages.add("index.html", head + '<button id="go" data-rtp-event="left behind">Go</button>')
        next_url = rtp_pages.add("next.html", head + "<p>next</p>")
        page.goto(url)
        page.wait_for_function(TAG_READY)
        rtp_server.stop()
        with _collect_failed(page):
            page.click("#go")
        page.goto(next_url)
        page.wait_for_function(TAG_READY)
        rtp_server.start()
        events = rtp_server.wait_for_events(1, timeout=RECOVERY)
        assert [event["values"] for event in events] == [["left behind"]]
        assert events[0]["url"] == url
        assert assets.events() == []
    finally:
        assets.stop()


def test_a_503_with_retry_after_is_retried_after_the_delay_and_stored_once(page, rtp_server, rtp_pages):
    page.goto(rtp_pages.add("index.html", BUTTON_PAGE % "throttled"))
    page.wait_for_function(TAG_READY)
    requests: list[float] = []
    page.on("request", lambda request: requests.append(time.monotonic()) if request.url.endswith("/collect") else None)
    holder = sqlite3.connect(rtp_server.db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the database: the collector answers 503
    try:
        with page.expect_response(lambda r: r.url.endswith("/collect") and r.status == 503) as busy:
            page.click("#go")
        answered_at = time.monotonic()
        retry_after = float(busy.value.headers["retry-after"])
    finally:
        holder.execute("COMMIT")
        holder.close()
    with page.expect_response(lambda r: r.url.endswith("/collect"), timeout=RECOVERY * 1000) as retry:
        pass
    assert retry.value.status == 200
    assert [event["values"] for event in rtp_server.events()] == [["throttled"]]
    retried_at = [at for at in requests if at > answered_at][0]
    # Playwright reports events a little after the browser sees them; 0.25 s covers that.
    assert retried_at - answered_at >= retry_after - 0.25


def test_two_tabs_sharing_the_outbox_deliver_every_event_exactly_once(context, rtp_server, rtp_pages):
    url = rtp_pages.add("index.html", '<script src="{tag}"></script><p>tab</p>')
    tabs = [context.new_page(), context.new_page()]
    for tab in tabs:
        tab.goto(url)
        tab.wait_for_function(TAG_READY)
    rtp_server.stop()
    for number, tab in enumerate(tabs):
        with _collect_failed(tab):
            for index in range(5):
                tab.evaluate("v => rtp('send', 'event', {value: v})", f"tab{number}-{index}")
    tabs[0].close()  # its events now wait in storage for the other tab to adopt
    rtp_server.start()
    rtp_server.wait_for_events(10, timeout=RECOVERY)
    counts = _values(rtp_server)
    assert counts == Counter({f"tab{n}-{i}": 1 for n in range(2) for i in range(5)})


def test_when_the_runtime_cannot_load_the_page_keeps_working_and_events_wait(
    page, rtp_server, rtp_pages, rtp_console, tmp_path
):
    broken_dist = tmp_path / "broken-dist"
    shutil.copytree(rtp_server.dist, broken_dist)
    for wasm in broken_dist.glob("*.wasm*"):
        wasm.unlink()  # the runtime's wasm answers 404
    broken = Collector(broken_dist, tmp_path / "broken.sqlite3")
    broken.start()
    try:
        url = rtp_pages.add(
            "index.html",
            f'<script src="{broken.tag_url}"></script><script src="page.js"></script>'
            '<button id="go" data-rtp-event="saved for later">Go</button><p id="own">waiting</p>',
        )
        rtp_pages.add("page.js", "document.addEventListener('DOMContentLoaded', function () {"
                      " document.getElementById('own').textContent = 'page script ran'; });")
        next_url = rtp_pages.add("next.html", NEXT_PAGE)
        with page.expect_console_message(lambda m: m.text.startswith("rtp: the tag could not start")):
            page.goto(url)
        assert page.text_content("#own") == "page script ran"
        page.click("#go")
        page.evaluate("rtp('send', 'event', {value: 'called after failure'})")  # rtp() stays callable
        assert [m for m in rtp_console if "rtp:" in m] == [next(m for m in rtp_console if "rtp:" in m)]
        page.goto(next_url)  # a later page whose tag loads delivers what was saved
        events = rtp_server.wait_for_events(2)
        assert sorted(v for e in events for v in e["values"]) == ["called after failure", "saved for later"]
        assert broken.events() == []
    finally:
        broken.stop()


LOSS_EVENTS = 500
LOSS_TABS = 4
LOSS_OUTAGES = 3


def test_no_event_is_lost_or_doubled_while_the_collector_is_killed_three_times(
    context, rtp_server, rtp_pages, browser_name, capsys
):
    url = rtp_pages.add("index.html", '<script src="{tag}"></script><p>loss test</p>')
    tabs = [context.new_page() for _ in range(LOSS_TABS)]
    for tab in tabs:
        tab.goto(url)
        tab.wait_for_function(TAG_READY)
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    outages: list[str] = []

    def chaos() -> None:
        for _ in range(LOSS_OUTAGES):
            time.sleep(rng.uniform(0.5, 2.5))
            rtp_server.kill()  # SIGKILL, mid-request or not
            down_for = rng.uniform(0.3, 2.0)
            time.sleep(down_for)
            rtp_server.start()
            outages.append(f"{down_for:.1f}s")

    killer = threading.Thread(target=chaos)
    killer.start()
    try:
        for index in range(LOSS_EVENTS):
            tabs[index % LOSS_TABS].evaluate("v => rtp('send', 'event', {value: v})", f"loss-{index}")
            if index % 10 == 9:
                tabs[0].wait_for_timeout(200)  # spread the 500 events over about 10 s of outages
    finally:
        killer.join()
    rtp_server.wait_for_events(LOSS_EVENTS, timeout=120)
    counts = _values(rtp_server)
    lost = [f"loss-{i}" for i in range(LOSS_EVENTS) if counts[f"loss-{i}"] == 0]
    doubled = [value for value, count in counts.items() if count > 1]
    with capsys.disabled():
        print(
            f"\nloss test [{browser_name}, seed {seed}]: {LOSS_EVENTS} sent from {LOSS_TABS} tabs, "
            f"{sum(counts.values())} stored, {len(lost)} lost, {len(doubled)} doubled; "
            f"collector killed {len(outages)} times (down {', '.join(outages)})"
        )
    assert lost == [] and doubled == []
    assert sum(counts.values()) == LOSS_EVENTS
