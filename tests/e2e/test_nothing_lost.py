"""Nothing lost, nothing doubled: delivery through navigation, early clicks and
collector outages (issue 3), against the real collector in real browsers."""

from __future__ import annotations

import random
import shutil
import socket
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rtp_tag.pytest_plugin import TAG_READY, Collector, Pages, free_port

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


def send_through_outages(context: Any, url: str, outages: Callable[[random.Random], list[str]]) -> str:
    """Send LOSS_EVENTS values from LOSS_TABS tabs of ``url`` while ``outages`` (on a
    thread of its own, with a seeded random source) takes the collector down; return
    what happened, for the report line."""
    tabs = [context.new_page() for _ in range(LOSS_TABS)]
    for tab in tabs:
        tab.goto(url)
        tab.wait_for_function(TAG_READY)
    seed = random.randrange(1 << 30)
    done: list[str] = []
    killer = threading.Thread(target=lambda: done.extend(outages(random.Random(seed))))
    killer.start()
    try:
        for index in range(LOSS_EVENTS):
            tabs[index % LOSS_TABS].evaluate("v => rtp('send', 'event', {value: v})", f"loss-{index}")
            if index % 10 == 9:
                tabs[0].wait_for_timeout(200)  # spread the 500 events over about 10 s of outages
    finally:
        killer.join()
    return f"seed {seed}; outages: {', '.join(done)}"


def assert_each_sent_value_stored_once(collector: Collector, capsys: Any, label: str) -> None:
    collector.wait_for_events(LOSS_EVENTS, timeout=120)
    counts = _values(collector)
    lost = [f"loss-{i}" for i in range(LOSS_EVENTS) if counts[f"loss-{i}"] == 0]
    doubled = [value for value, count in counts.items() if count > 1]
    with capsys.disabled():
        print(
            f"\n{label}: {LOSS_EVENTS} sent from {LOSS_TABS} tabs, {sum(counts.values())} stored, "
            f"{len(lost)} lost, {len(doubled)} doubled"
        )
    assert lost == [] and doubled == []
    assert sum(counts.values()) == LOSS_EVENTS


def test_no_event_is_lost_or_doubled_while_the_collector_is_killed_three_times(
    context, rtp_server, rtp_pages, browser_name, capsys
):
    def outages(rng: random.Random) -> list[str]:
        done = []
        for _ in range(LOSS_OUTAGES):
            time.sleep(rng.uniform(0.5, 2.5))
            rtp_server.kill()  # SIGKILL, mid-request or not
            down_for = rng.uniform(0.3, 2.0)
            time.sleep(down_for)
            rtp_server.start()
            done.append(f"collector down {down_for:.1f}s")
        return done

    url = rtp_pages.add("index.html", '<script src="{tag}"></script><p>loss test</p>')
    happened = send_through_outages(context, url, outages)
    assert_each_sent_value_stored_once(rtp_server, capsys, f"loss test [{browser_name}, {happened}]")


NGINX_CONFIG = """
daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    client_max_body_size 1m;
    client_body_buffer_size 128k;
    upstream collectors {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://collectors;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_connect_timeout 2s;
            # POST /collect is safe to send again: the collector stores each event_id once.
            proxy_next_upstream error timeout http_502 http_503 non_idempotent;
        }}
    }}
}}
"""


class Balancer:
    """A real nginx in front of ``replicas``: round robin, each request that fails
    (refused, cut off, 502, 503) passed to the next replica."""

    def __init__(self, root: Path, replicas: list[Collector]) -> None:
        self.port = free_port()
        root.mkdir(parents=True, exist_ok=True)
        root.chmod(0o777)  # nginx's workers run as nobody when the tests run as root
        servers = "\n".join(f"        server 127.0.0.1:{r.port} max_fails=1 fail_timeout=1s;" for r in replicas)
        conf = root / "nginx.conf"
        conf.write_text(NGINX_CONFIG.format(root=root, servers=servers, port=self.port))
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self._process = subprocess.Popen([nginx, "-c", str(conf), "-e", str(root / "error.log")])
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                assert self._process.poll() is None, f"nginx stopped: {(root / 'error.log').read_text()}"
                assert time.monotonic() < deadline, "nginx did not listen within 30 s"
                time.sleep(0.1)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def tag_url(self) -> str:
        return self.url + "rtp.js"

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)


REPLICAS = 3


@pytest.fixture
def replicas(postgres, rtp_dist, tmp_path) -> Iterator[list[Collector]]:
    """Three collectors on one new PostgreSQL database."""
    url = postgres.create_database(f"chaos_{random.randrange(1 << 30)}")
    started = [Collector(rtp_dist, url) for _ in range(REPLICAS)]
    try:
        for replica in started:
            replica.start()
        yield started
    finally:
        for replica in started:
            replica.stop()


@pytest.mark.only_browser("chromium")
def test_no_event_is_lost_or_doubled_across_three_replicas_on_postgresql_killed_in_turn_and_a_database_restart(
    context, postgres, replicas, tmp_path, browser_name, capsys
):
    def outages(rng: random.Random) -> list[str]:
        done = []
        for turn in range(LOSS_OUTAGES * 2):
            time.sleep(rng.uniform(0.3, 1.5))
            if turn == LOSS_OUTAGES:
                postgres.restart("immediate")  # as a crash of the database would
                done.append("database")
                continue
            victim = rng.randrange(REPLICAS)
            replicas[victim].kill()  # SIGKILL, mid-request or not
            down_for = rng.uniform(0.3, 2.0)
            time.sleep(down_for)
            replicas[victim].start()
            done.append(f"replica {victim} {down_for:.1f}s")
        return done

    balancer = Balancer(tmp_path / "nginx", replicas)
    pages = Pages(tmp_path / "site", balancer)  # type: ignore[arg-type]  # the tag and /collect via nginx
    try:
        url = pages.add("index.html", '<script src="{tag}"></script><p>loss test behind a balancer</p>')
        happened = send_through_outages(context, url, outages)
        assert_each_sent_value_stored_once(
            replicas[0], capsys,
            f"loss test behind nginx to {REPLICAS} replicas on PostgreSQL [{browser_name}, {happened}]",
        )
    finally:
        pages.close()
        balancer.stop()
