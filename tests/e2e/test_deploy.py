"""A deployed collector in real browsers (issue 9): the rate limit delays events but
loses and doubles none, pages of other sites cannot read the events even holding the
key, pages of a site that is not allowed get nothing stored, the demo shows what
arrived with its key, and a page holding an older build's loader still boots."""

from __future__ import annotations

import json
import re
import shutil
import urllib.request
import zipfile
from collections import Counter
from io import BytesIO

import pytest

from rtp_tag import build as builder
from rtp_tag.build_cache import BuildCache
from rtp_tag.pytest_plugin import TAG_READY, Collector, Pages

PAGE = '<!doctype html><html><head><script src="{tag}"></script><link rel="icon" href="data:,"></head><body>p</body></html>'
ARRIVAL_S = 60.0
LIMIT, WINDOW = "5", "4"


def _custom_values(collector: Collector) -> Counter[str]:
    return Counter(value for event in collector.events() if event["type"] == "event" for value in event["values"])


def _is_collect(response) -> bool:
    return response.url.endswith("/collect")


@pytest.mark.parametrize("rtp_server_args", [("--rate-limit", LIMIT, "--rate-window", WINDOW)])
def test_a_page_over_the_rate_limit_gets_every_event_stored_exactly_once_after_the_window(
    page, rtp_server, rtp_pages
):
    page.goto(rtp_pages.add("index.html", PAGE))
    page.wait_for_function(TAG_READY)
    sent: list[str] = []
    refused = None
    # One event a request (each waits for its answer) until the collector refuses one:
    # at most LIMIT fit in a window, so this takes LIMIT + 1 requests, a few more if a
    # window ends meanwhile.
    for index in range(4 * int(LIMIT)):
        with page.expect_response(_is_collect) as answer:
            sent.append(f"e{index}")
            page.evaluate("v => rtp('send', 'event', {value: v})", sent[-1])
        if answer.value.status == 429:
            refused = answer.value
            break
    assert refused is not None, "the collector never answered 429"
    assert 1 <= int(refused.headers["retry-after"]) <= int(WINDOW)
    for index in range(len(sent), len(sent) + 3):  # more while the tag waits out the window
        sent.append(f"e{index}")
        page.evaluate("v => rtp('send', 'event', {value: v})", sent[-1])
    rtp_server.wait_for_events(
        len(sent), timeout=ARRIVAL_S, where=lambda event: event["type"] == "event"
    )
    assert _custom_values(rtp_server) == Counter(sent)


def test_a_page_of_another_site_cannot_read_the_events_even_holding_the_key(page, rtp_server, rtp_pages):
    page.goto(rtp_pages.add("index.html", PAGE))
    page.wait_for_function(TAG_READY)
    page.evaluate("v => rtp('send', 'event', {value: v})", "secret")
    rtp_server.wait_for_events(1, timeout=ARRIVAL_S, where=lambda event: "secret" in event["values"])
    outcome = page.evaluate(
        """async ([url, key]) => {
            try {
                const response = await fetch(url, {headers: {Authorization: 'Bearer ' + key}});
                return 'read ' + (await response.text());
            } catch (error) {
                return 'refused';
            }
        }""",
        [rtp_server.url + "api/events", rtp_server.read_key],
    )
    assert outcome == "refused"


@pytest.mark.parametrize("rtp_server_args", [("--allow-origin", "https://www.site.example")])
def test_a_page_of_a_site_not_allowed_gets_nothing_stored_and_the_tag_says_why(page, rtp_server, rtp_pages):
    page.goto(rtp_pages.add("index.html", PAGE))
    page.wait_for_function(TAG_READY)
    with page.expect_console_message(lambda m: "403" in m.text and "--allow-origin" in m.text) as said:
        page.evaluate("v => rtp('send', 'event', {value: v})", "refused")
    assert said.value.text.startswith("rtp:")
    assert rtp_server.events() == []


def test_the_demo_page_lists_what_arrived_with_the_read_key_in_its_link(page, rtp_server):
    """``./dev demo`` prints the demo's URL with ``#key=``; without it the page says so."""
    page.goto(rtp_server.url + "demo/")
    page.wait_for_function("() => document.querySelector('#events li')")
    assert "./dev demo" in page.inner_text("#events")
    page.goto(rtp_server.url + "demo/#key=" + rtp_server.read_key)
    page.wait_for_function(TAG_READY)
    assert "key=" not in page.url  # taken off the address bar once kept
    page.click("#download-whitepaper")
    page.wait_for_function(
        "() => document.querySelector('#events').textContent.includes('download - example whitepaper')",
        timeout=ARRIVAL_S * 1000,
    )


def test_a_page_holding_the_previous_builds_loader_still_boots_and_delivers_after_a_rebuild(
    page, rtp_dist, tmp_path, monkeypatch
):
    """``rtp.js`` is cached for minutes (longer behind a CDN): after a rebuild with a
    changed package, a page whose cached loader names the old package and runtime still
    gets them. The rebuild runs on a copy of dist/, with the build cache (seconds)."""
    dist = tmp_path / "dist"
    shutil.copytree(rtp_dist, dist)
    collector = Collector(dist, tmp_path / "events.sqlite3")
    collector.start()
    pages = Pages(tmp_path / "site", collector)
    try:
        def loader() -> bytes:
            request = urllib.request.Request(collector.tag_url, headers={"Accept-Encoding": "identity"})
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.read()

        def package_of(source: bytes) -> str:
            return json.loads(re.search(rb"var BUILD = (\{.*?\}); /\*", source)[1])["package"]

        old_loader = loader()
        original = builder.browser_package

        def changed_package() -> bytes:
            data = BytesIO(original())
            with zipfile.ZipFile(data, "a") as archive:
                archive.writestr("rtp_tag/_rebuilt.py", "# a later build\n")
            return data.getvalue()

        monkeypatch.setattr(builder, "browser_package", changed_package)
        builder.build(out=dist, cache=BuildCache(builder.CACHE))
        assert package_of(loader()) != package_of(old_loader)  # the rebuild did change the package

        page.route(collector.tag_url, lambda route: route.fulfill(
            status=200, body=old_loader, headers={"Content-Type": "text/javascript", "Cache-Control": "no-store"}
        ))
        page.goto(pages.add("index.html", PAGE))
        page.wait_for_function(TAG_READY, timeout=ARRIVAL_S * 1000)
        page.evaluate("v => rtp('send', 'event', {value: v})", "from the old page")
        collector.wait_for_events(1, timeout=ARRIVAL_S, where=lambda event: "from the old page" in event["values"])
    finally:
        pages.close()
        collector.stop()
