"""Did personalization work? (issue 13) A scripted scenario in real browsers against the
real collector: visitors download the paper and qualify, a holdout of 0.5 keeps half
of them on the default content, some click, some convert. The report's every number,
its CSV and the dashboard (read from the page) equal what the scenario did.

Visitor ids are set before the tag runs, chosen so that two visitors fall in the
treatment group and two in the control group: the assignment is a hash, so the
scenario knows each visitor's group in advance and its numbers are exact.
"""

from __future__ import annotations

import csv
import io
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from rtp_tag.collector.campaigns import parse_config
from rtp_tag.collector.holdout import CONTROL, TREATMENT, group_of
from rtp_tag.collector.reports import lift_with_interval
from rtp_tag.collector.stores import Outcome
from rtp_tag.pytest_plugin import TAG_READY, Collector

CAMPAIGN = "Whitepaper follow-up"
DOWNLOAD = "download - example whitepaper"
GOAL = "register - webinar"
DEFAULT_HERO = "Our product, in real time"
FOLLOW_UP = "Thanks for reading the whitepaper: join the live demo"
CAMPAIGNS = f"""
[[segments]]
id = "wp"
name = "Whitepaper downloaders"
custom_data = "{DOWNLOAD}"

[[campaigns]]
name = "{CAMPAIGN}"
segment = "wp"
zone = "hero"
text = "{FOLLOW_UP}"
link = "/webinar.html"
holdout = 0.5
goal = "{GOAL}"
"""
WHITEPAPER = f"""<!doctype html><html><head><script src="{{tag}}"></script>
<script src="track.js"></script></head><body>
<button id="download" data-rtp-event="{DOWNLOAD}">Download</button>
<a id="next" href="product.html">See the product</a></body></html>"""
PRODUCT = f"""<!doctype html><html><head><script src="{{tag}}"></script>
<script src="track.js"></script><script src="personalize.js"></script></head><body>
<div id="hero">{DEFAULT_HERO}</div></body></html>"""
WEBINAR = f"""<!doctype html><html><head><script src="{{tag}}"></script>
<script src="track.js"></script></head><body>
<button id="register" data-rtp-event="{GOAL}">Register</button></body></html>"""
TRACK = "rtp('send', 'view');"
PERSONALIZE = """rtp('get', 'campaign', true);
rtp('get', 'visitor', function (answer) { window.visitorAnswer = answer; });"""
BOOT_TIMEOUT_MS = 90_000
"""A visitor's first page boots Python: seconds on an idle machine, far longer when the CI's
cores are shared; this bounds a hang, it measures nothing."""
SETTLED = "() => window.visitorAnswer !== undefined"  # answers come in call order: campaigns are shown



@pytest.fixture
def site(rtp_pages) -> dict[str, str]:
    rtp_pages.add("track.js", TRACK)
    rtp_pages.add("personalize.js", PERSONALIZE)
    return {
        "whitepaper": rtp_pages.add("index.html", WHITEPAPER),
        "product": rtp_pages.add("product.html", PRODUCT),
        "webinar": rtp_pages.add("webinar.html", WEBINAR),
    }


def visitor_ids(group: str, count: int) -> list[str]:
    """The first ``count`` ids of the form ``e2e-N`` that the holdout puts in ``group``."""
    [campaign] = parse_config(CAMPAIGNS, "test").campaigns
    candidates = (f"e2e-visitor-{n}" for n in range(1000))
    return [v for v in candidates if group_of(campaign, v) == group][:count]


class Visitor:
    """One browser context (one visitor, with a chosen id) of the scenario."""

    def __init__(self, browser, site: dict[str, str], visitor_id: str) -> None:
        self.context = browser.new_context()
        self.context.set_default_timeout(BOOT_TIMEOUT_MS)
        self.context.add_init_script(f"localStorage.setItem('rtp:visitor', {json.dumps(visitor_id)})")
        self.site = site
        self.page = self.context.new_page()

    def download_the_paper(self) -> None:
        self.page.goto(self.site["whitepaper"])
        self.page.wait_for_function(TAG_READY)
        self.page.click("#download")
        self.page.click("#next")
        self.see_product_page(self.page)

    def see_product_page(self, page) -> str:
        page.wait_for_url(self.site["product"])
        page.wait_for_function(SETTLED)
        return page.text_content("#hero")

    def product_page_in_a_second_tab(self) -> str:
        self.page = self.context.new_page()  # a new tab: a new session
        self.page.goto(self.site["product"])
        return self.see_product_page(self.page)

    def click_the_campaign(self) -> None:
        self.page.click("#hero a")
        self.page.wait_for_url(self.site["webinar"])

    def register(self, new_tab: bool = False) -> None:
        if new_tab:
            self.page = self.context.new_page()
        if self.page.url != self.site["webinar"]:
            self.page.goto(self.site["webinar"])
        self.page.wait_for_function(TAG_READY)
        self.page.click("#register")

    def close(self) -> None:
        self.context.close()


def read(collector: Collector, path: str, key: str | None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    request = urllib.request.Request(collector.url + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_the_report_and_the_dashboard_show_what_the_visitors_did(browser, browser_name, site, rtp_server):
    treated, held = visitor_ids(TREATMENT, 2), visitor_ids(CONTROL, 2)
    visitors = {name: Visitor(browser, site, vid) for name, vid in zip(("t1", "t2", "c1", "c2"), treated + held)}
    try:
        for visitor in visitors.values():
            visitor.download_the_paper()
        heroes = {name: v.page.text_content("#hero") for name, v in visitors.items()}
        assert heroes == {"t1": FOLLOW_UP, "t2": FOLLOW_UP, "c1": DEFAULT_HERO, "c2": DEFAULT_HERO}

        visitors["t1"].click_the_campaign()
        visitors["t1"].register()  # in the session that saw the campaign: direct
        visitors["t2"].register(new_tab=True)  # in a later session: assisted
        # Same group on another page, in a second tab: still the default content.
        assert visitors["c1"].product_page_in_a_second_tab() == DEFAULT_HERO
        visitors["c1"].register()  # in the second tab's session, after its control exposure
        # t1: 2 views, download, impression, click, view, goal; t2: 2 views, download,
        # impression, view, goal; c1: 2 views, download, control, view, control, view, goal;
        # c2: 2 views, download, control.
        rtp_server.wait_for_events(7 + 6 + 8 + 4)
    finally:
        for visitor in visitors.values():
            visitor.close()

    status, body = read(rtp_server, "api/report?account=&days=7", rtp_server.read_key)
    assert status == 200, body
    report = json.loads(body)
    [row] = report["campaigns"]
    lift, interval = lift_with_interval(Outcome(2, 1, 1), Outcome(2, 1, 0))
    assert row == {
        "name": CAMPAIGN, "segment": "wp", "goal": GOAL, "holdout": 0.5,
        "impressions": 2, "clicks": 1, "ctr": 0.5,
        "visitors": 2, "conversions": {"direct": 1, "assisted": 1}, "conversion_rate": 1.0,
        "control": {"visitors": 2, "conversions": 1, "conversion_rate": 0.5},
        "lift": 1.0, "lift_ci95": interval,
    }
    assert lift == 1.0 and interval[0] < 1.0 < interval[1]
    assert report["segments"] == [{"id": "wp", "name": "Whitepaper downloaders", "visitors": 4}]
    assert {value["value"]: value["sessions"] for value in report["values"]} == {DOWNLOAD: 4, GOAL: 3}

    status, body = read(rtp_server, "api/report.csv?account=&days=7", rtp_server.read_key)
    assert status == 200
    [csv_row] = list(csv.DictReader(io.StringIO(body)))
    assert (csv_row["campaign"], csv_row["impressions"], csv_row["clicks"], csv_row["ctr"]) == (
        CAMPAIGN, "2", "1", "0.5000")
    assert (csv_row["direct_conversions"], csv_row["assisted_conversions"], csv_row["control_visitors"]) == (
        "1", "1", "2")
    assert csv_row["lift"] == "1.0000" and float(csv_row["lift_ci95_low"]) == pytest.approx(interval[0], abs=1e-4)

    dashboard = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    try:
        shown = read_dashboard(dashboard.new_page(), rtp_server, browser_name)
    finally:
        dashboard.close()
    assert shown["campaign"] == {
        "name": CAMPAIGN, "segment": "wp", "impressions": "2", "clicks": "1", "ctr": "50.0%",
        "visitors": "2", "direct": "1", "assisted": "1", "conversion_rate": "100.0%",
        "control_visitors": "2", "control_conversions": "1", "control_conversion_rate": "50.0%",
        "lift": "+100.0%",
        "lift_ci95": f"{interval[0] * 100:+.1f}% … {interval[1] * 100:+.1f}%",
    }
    assert shown["segments"] == {"Whitepaper downloaders": "4"}
    assert shown["chart_total"] == 4 + 3  # sessions that sent custom data, over the days drawn
    assert shown["csv"] == body  # the downloaded file is the API's CSV
    assert shown["problems"] == []


def read_dashboard(page, collector: Collector, browser_name: str) -> dict[str, Any]:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(collector.url + "dashboard/")
    page.fill("#key", collector.read_key)
    page.click("#login button[type=submit]")
    page.select_option("#days", "7")
    row = page.locator(f'#campaigns tr[data-campaign="{CAMPAIGN}"]')
    row.locator("[data-field=impressions]").wait_for()
    page.wait_for_function("() => document.querySelectorAll('#events li').length >= 20")
    campaign = {
        cell.get_attribute("data-field"): cell.text_content() for cell in row.locator("td").all()
    }
    segments = {
        r.locator("[data-field=name]").text_content(): r.locator("[data-field=visitors]").text_content()
        for r in page.locator("#segments tbody tr").all()
    }
    chart_total = page.evaluate(
        "() => [...document.querySelectorAll('#chart rect.bar')]"
        ".reduce((sum, bar) => sum + Number(bar.dataset.sessions), 0)"
    )
    # The file is the blob the page made; Chromium also reports the download itself
    # (stock Firefox, driven over WebDriver BiDi, does not tell Playwright about downloads).
    page.evaluate(
        """() => { const make = URL.createObjectURL; window.madeBlobs = [];
                   URL.createObjectURL = blob => { madeBlobs.push(blob); return make.call(URL, blob); }; }"""
    )
    if browser_name == "chromium":
        with page.expect_download() as download:
            page.click("#download")
        assert Path(download.value.path()).read_bytes().decode() == page.evaluate("() => madeBlobs[0].text()")
    else:
        page.click("#download")
        page.wait_for_function("() => madeBlobs.length === 1")
    csv_text = page.evaluate("() => madeBlobs[0].text()")
    assert "key" not in page.url and collector.read_key not in page.url
    return {"campaign": campaign, "segments": segments, "chart_total": chart_total, "csv": csv_text,
            "problems": problems}


def test_the_report_needs_the_read_key_and_says_what_is_wrong_with_its_parameters(rtp_server):
    for path in ("api/report?account=", "api/report.csv?account="):
        status, body = read(rtp_server, path, None)
        assert status == 401 and "error" in json.loads(body)
        status, body = read(rtp_server, path, "not-the-key")
        assert status == 401
    status, body = read(rtp_server, "api/report?account=acme&days=0", rtp_server.read_key)
    assert status == 400
    assert json.loads(body) == {"error": "days must be a whole number of days from 1 to 366, not '0'"}
    status, body = read(rtp_server, "api/report", rtp_server.read_key)
    assert status == 400 and "give ?account=" in json.loads(body)["error"]


def test_the_dashboard_asks_for_the_key_again_when_it_is_wrong_and_fits_a_phone(browser, rtp_server):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(rtp_server.url + "dashboard/")
        page.fill("#key", "wrong-key")
        page.click("#login button[type=submit]")
        page.locator("#login-problem").get_by_text("refused this key").wait_for()
        assert page.evaluate("sessionStorage.getItem('rtp-dashboard-key')") is None
        page.fill("#key", rtp_server.read_key)
        page.click("#login button[type=submit]")
        page.locator("#campaigns tbody tr").first.wait_for()
        assert page.is_hidden("#login")
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width} px wide on a 390 px screen"
        page.reload()  # the key is kept for this tab: no second prompt
        page.locator("#campaigns tbody tr").first.wait_for()
        assert page.is_hidden("#login")
        assert problems == []
    finally:
        context.close()
