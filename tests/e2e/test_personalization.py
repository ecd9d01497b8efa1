"""Real-time personalization (issue 4): segments, campaigns, ``get visitor``, against
the real collector in real browsers.

A page learns that personalization has finished from a positive signal: answers
come in call order, so once the visitor callback (asked after ``get campaign``)
has run, the campaigns are in their zones, or the zone keeps its own content.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from rtp_tag.pytest_plugin import TAG_READY, Collector

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_HERO = "Our product, in real time"
FOLLOW_UP = "Thanks for reading the whitepaper: join the live demo"
SEGMENT = {"id": "wp", "name": "Whitepaper downloaders"}
CAMPAIGNS = """
[[segments]]
id = "wp"
name = "Whitepaper downloaders"
custom_data = "download - example whitepaper"

[[campaigns]]
name = "Whitepaper follow-up"
segment = "wp"
zone = "hero"
text = "Thanks for reading the whitepaper: join the live demo"
link = "/webinar.html"
"""
on_both_stores = pytest.mark.parametrize("rtp_server_db", ["sqlite", "postgresql"], indirect=True)
"""For the answers read from the store: they run on SQLite and on PostgreSQL."""
HOSTILE_TEXT = '<img src=x onerror="window.ranInjectedCode = true">'
HOSTILE_CAMPAIGNS = f"""
[[segments]]
id = "wp"
name = "Whitepaper <b>downloaders</b>"
custom_data = "download - example whitepaper"

[[campaigns]]
name = "As text"
segment = "wp"
zone = "hero"
text = '{HOSTILE_TEXT}'

[[campaigns]]
name = "As link"
segment = "wp"
zone = "aside"
text = '<script>window.ranInjectedCode = true</script>'
link = "/webinar.html"
"""
LATER_CAMPAIGNS = CAMPAIGNS.replace('link = "/webinar.html"', "after_views = 2")

# The reference's third example: the button exactly as documented.
WHITEPAPER_PAGE = """<!doctype html><html><head><script src="{tag}"></script>
<script>rtp('send', 'view'); rtp('get', 'campaign', true);</script></head><body>
<button id="download-whitepaper"
        onclick="rtp('send', 'event', {value :'download - example whitepaper'})">Download</button>
<a id="next" href="product.html">See the product</a></body></html>"""
PRODUCT_PAGE = """<!doctype html><html><head><script src="{tag}"></script>
<script>
  window.pageErrors = [];  /* what the page itself would see thrown at it */
  addEventListener('error', function (e) { pageErrors.push(String(e.message)); });
  addEventListener('unhandledrejection', function (e) { pageErrors.push(String(e.reason)); });
  rtp('send', 'view');
  rtp('get', 'campaign', true);
  rtp('get', 'visitor', function (answer) { window.visitorAnswer = answer; });
</script></head><body>
<div id="hero">%s</div><div id="aside">Default aside</div></body></html>""" % DEFAULT_HERO
ANSWERED = "() => window.visitorAnswer !== undefined"
ASK_VISITOR = "() => new Promise(resolve => rtp('get', 'visitor', resolve))"


@pytest.fixture
def site(rtp_pages):
    """The whitepaper page and the product page with the hero, on a second origin."""
    return {
        "whitepaper": rtp_pages.add("index.html", WHITEPAPER_PAGE),
        "product": rtp_pages.add("product.html", PRODUCT_PAGE),
    }


def open_product_page(page, site) -> dict:
    page.goto(site["product"])
    return visitor_answer(page)


def follow_link_to_product_page(page, site) -> dict:
    page.click("#next")
    page.wait_for_url(site["product"])
    return visitor_answer(page)


def visitor_answer(page) -> dict:
    """The product page's visitor answer; by then its campaigns are settled."""
    page.wait_for_function(ANSWERED)
    return page.evaluate("window.visitorAnswer")


def rtp_problems(console: list[str]) -> list[str]:
    return [line for line in console if line.startswith(("error: rtp:", "pageerror"))]


def download_whitepaper(page, site) -> None:
    page.goto(site["whitepaper"])
    page.wait_for_function(TAG_READY)
    page.click("#download-whitepaper")


def hero(page) -> dict:
    return page.evaluate(
        """() => {
            const hero = document.getElementById('hero');
            const link = hero.querySelector('a');
            return {text: hero.textContent, elements: hero.querySelectorAll('*').length,
                    link: link && link.getAttribute('href'), linkText: link && link.textContent};
        }"""
    )


def test_the_hero_changes_after_the_download_and_only_for_that_visitor(page, browser, site, rtp_console):
    first_answer = open_product_page(page, site)
    assert first_answer == {"status": 200, "results": {}}
    assert hero(page) == {"text": DEFAULT_HERO, "elements": 0, "link": None, "linkText": None}

    download_whitepaper(page, site)
    answer = follow_link_to_product_page(page, site)
    assert answer == {"status": 200, "results": {"matchedSegments": [SEGMENT]}}
    assert hero(page) == {"text": FOLLOW_UP, "elements": 1, "link": "/webinar.html", "linkText": FOLLOW_UP}
    assert page.evaluate("document.querySelector('#hero a').href") == site["product"].replace(
        "product.html", "webinar.html"
    )
    assert page.text_content("#aside") == "Default aside"  # no campaign for it: kept

    other_visitor = browser.new_context()
    try:
        other_page = other_visitor.new_page()
        assert open_product_page(other_page, site) == {"status": 200, "results": {}}
        assert hero(other_page)["text"] == DEFAULT_HERO
    finally:
        other_visitor.close()
    assert rtp_problems(rtp_console) == []
    assert page.evaluate("window.pageErrors") == []


def test_get_visitor_lists_the_segment_after_the_click_and_not_before(page, site):
    page.goto(site["whitepaper"])
    page.wait_for_function(TAG_READY)
    before = page.evaluate(ASK_VISITOR)
    assert before == {"status": 200, "results": {}}
    assert "matchedSegments" not in before["results"]

    page.click("#download-whitepaper")
    after = page.evaluate(ASK_VISITOR)  # asked at once: the click is already counted
    assert after == {"status": 200, "results": {"matchedSegments": [SEGMENT]}}


@pytest.mark.parametrize("campaigns", [HOSTILE_CAMPAIGNS], ids=["hostile"])
def test_campaign_text_that_looks_like_html_shows_as_text_and_runs_nothing(page, site, rtp_console):
    download_whitepaper(page, site)
    answer = open_product_page(page, site)
    assert answer["results"]["matchedSegments"] == [{"id": "wp", "name": "Whitepaper <b>downloaders</b>"}]
    assert page.text_content("#hero") == HOSTILE_TEXT
    assert page.evaluate("document.querySelectorAll('#hero *').length") == 0
    assert page.text_content("#aside a") == "<script>window.ranInjectedCode = true</script>"
    assert page.evaluate("document.querySelectorAll('#aside a *, #aside script').length") == 0
    assert page.evaluate("window.ranInjectedCode") is None
    assert rtp_problems(rtp_console) == []
    assert page.evaluate("window.pageErrors") == []


@pytest.mark.parametrize("campaigns", [LATER_CAMPAIGNS], ids=["after_views=2"])
def test_after_views_2_shows_the_campaign_on_the_second_view_after_the_click(page, site):
    download_whitepaper(page, site)
    assert follow_link_to_product_page(page, site)["results"]["matchedSegments"] == [SEGMENT]
    assert hero(page)["text"] == DEFAULT_HERO  # the first view after the click

    page.reload()
    visitor_answer(page)
    assert hero(page)["text"] == FOLLOW_UP  # the second
    assert hero(page)["elements"] == 0  # no link configured: plain text


def test_an_unreachable_collector_answers_the_callback_with_an_error(page, site, rtp_server, rtp_console):
    open_product_page(page, site)
    rtp_server.stop()
    answer = page.evaluate(ASK_VISITOR)
    assert answer["status"] == 0
    assert answer["error"].startswith("the collector could not be reached")
    assert "results" not in answer
    page.evaluate("rtp('get', 'campaign', true)")
    page.evaluate(ASK_VISITOR)  # answered after the campaigns call: it has finished
    assert hero(page)["text"] == DEFAULT_HERO
    # Firefox logs the failed fetch itself (Playwright shows that as a "pageerror");
    # what counts is that nothing was thrown at the page's own code.
    assert page.evaluate("window.pageErrors") == []
    assert [line for line in rtp_console if line.startswith("error: rtp:")] == []
    assert any(line.startswith("warning: rtp: campaigns are not shown") for line in rtp_console)


@pytest.mark.parametrize("campaigns", [ROOT / "web" / "demo" / "campaigns.toml"], ids=["demo"])
def test_the_demo_product_page_greets_whitepaper_downloaders(page, rtp_server):
    demo = rtp_server.url + "demo/"
    page.goto(demo + "product.html")
    page.wait_for_function("() => document.getElementById('segments').textContent === 'none yet'")
    default_hero = page.text_content("#hero")

    page.goto(demo + "index.html")
    page.wait_for_function(TAG_READY)
    page.click("#download-whitepaper")
    page.click("#to-product")
    page.wait_for_url(demo + "product.html")
    page.wait_for_function("() => document.getElementById('segments').textContent === 'Whitepaper downloaders'")
    assert page.text_content("#hero") != default_hero
    assert page.text_content("#hero a") == FOLLOW_UP
    assert page.get_attribute("#hero a", "href") == "/demo/webinar.html"


# The collector's side, without a browser.


def _get(collector: Collector, path: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(collector.url + path, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def _event(visitor: str, kind: str, values: list[str], ts: int, event_id: str) -> dict:
    return {"type": kind, "values": values, "event_id": event_id, "session_id": "s1",
            "visitor_id": visitor, "account": "", "url": "https://site.example/", "ts": ts}


@on_both_stores
def test_answers_are_per_account_uncached_and_readable_from_any_origin(rtp_server):
    click = _event("v1", "event", ["download - example whitepaper"], 1000, "e1") | {"account": "acme"}
    rtp_server.post(json.dumps(click))
    request = urllib.request.Request(
        rtp_server.url + "api/visitor?visitor_id=v1&account=acme", headers={"Origin": "https://site.example"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.load(response) == {"matchedSegments": [SEGMENT]}
        assert response.headers["Access-Control-Allow-Origin"] in ("*", "https://site.example")
        assert response.headers["Cache-Control"] == "no-store"
    assert _get(rtp_server, "api/visitor?visitor_id=v1&account=other") == (200, {"matchedSegments": []})
    assert _get(rtp_server, "api/campaigns?visitor_id=v1&account=other") == (200, {"campaigns": []})


def test_the_api_refuses_a_request_without_a_visitor_id(rtp_server):
    for path in ("api/visitor", "api/campaigns?visitor_id=", "api/visitor?visitor_id=" + "x" * 65):
        status, answer = _get(rtp_server, path)
        assert status == 400, path
        assert "visitor_id" in answer["error"]


@on_both_stores
def test_an_edited_campaigns_file_applies_without_a_restart(rtp_server, rtp_server_args):
    rtp_server.post(json.dumps(_event("v1", "event", ["Download - Example Whitepaper"], 1000, "e1")))
    assert _get(rtp_server, "api/campaigns?visitor_id=v1")[1]["campaigns"][0]["text"] == FOLLOW_UP
    Path(rtp_server_args[1]).write_text(CAMPAIGNS.replace(FOLLOW_UP, "Welcome back"))
    assert _get(rtp_server, "api/campaigns?visitor_id=v1")[1]["campaigns"][0]["text"] == "Welcome back"


def test_a_malformed_campaigns_file_stops_the_server_naming_file_line_and_problem(tmp_path, rtp_dist):
    path = tmp_path / "campaigns.toml"
    path.write_text(CAMPAIGNS.replace('segment = "wp"', 'segment = "whitepaper"'))
    result = subprocess.run(
        [sys.executable, "-m", "rtp_tag.cli", "serve", "--port", "0", "--db", str(tmp_path / "db.sqlite3"),
         "--dist", str(rtp_dist), "--campaigns", str(path)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "serving on" not in result.stdout
    assert result.stderr.strip() == (
        f"rtp-tag: {path}: line 9, [[campaigns]] #1: unknown segment id 'whitepaper' (defined segment ids: wp)"
    )
