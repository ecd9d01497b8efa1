"""Segment rules beyond custom data (issue 12), through a real campaigns file, the
real collector and real browsers: pages visited, referrer, search terms, visits,
device and custom variables, combined with ``match``.

Kept lean: each page load checks every rule kind it can, through the page's own
``rtp('get', 'visitor', ...)`` answer (asked after ``get campaign``, so the zones
are settled by then).
"""

from __future__ import annotations

import json

import pytest

CAMPAIGNS = """
[[segments]]
id = "pricing"
name = "Pricing readers"
pages_include = "/blog*; /pricing*"

[[segments]]
id = "no-checkout"
name = "Not yet at checkout"
pages_exclude = "/checkout*"

[[segments]]
id = "referred"
name = "Came from the partner site"
referrer_contains = "localhost"

[[segments]]
id = "searched"
name = "Searched for a CRM"
search_terms = "marketing; crm"

[[segments]]
id = "returning"
name = "Returning visitors"
visits = ">= 2"

[[segments]]
id = "mobile"
name = "On a phone"
device = "mobile"

[[segments]]
id = "gold"
name = "Gold customers"
custom_var1 = "gold"

[[segments]]
id = "checkout-or-tablet"
name = "At checkout, or on a tablet"
match = "any"
pages_include = "/checkout*"
device = "tablet"

[[campaigns]]
name = "Phone banner"
segment = "mobile"
zone = "hero"
text = "Hello, phone"

[[campaigns]]
name = "Pricing follow-up"
segment = "pricing"
zone = "aside"
text = "Questions about pricing?"
after_views = 1
"""
DEFAULT_HERO = "Our product"
DEFAULT_ASIDE = "Default aside"
PAGE = """<!doctype html><html><head><script src="{tag}"></script>
<script>
  %s
  rtp('send', 'view');
  rtp('get', 'campaign', true);
  rtp('get', 'visitor', function (answer) { window.visitorAnswer = answer; });
</script></head><body><div id="hero">Our product</div><div id="aside">Default aside</div></body></html>"""
SEARCH_RESULTS = """<!doctype html><html><body>
<a id="result" href="%s" referrerpolicy="unsafe-url">Best CRM: the pricing</a></body></html>"""
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)



@pytest.fixture
def site(rtp_pages) -> dict[str, str]:
    pricing = rtp_pages.add("pricing.html", PAGE % "")
    return {
        "pricing": pricing,
        "checkout": rtp_pages.add("checkout.html", PAGE % ""),
        # Another site (another host name for the same server) whose search links here.
        "search": rtp_pages.add("search.html", SEARCH_RESULTS % pricing).replace("127.0.0.1", "localhost")
        + "?q=best+CRM+tools",
    }


def segments_and_zones(page) -> tuple[list[str], str, str]:
    """The page's matched segment ids and its zones' text, once the tag answered."""
    page.wait_for_function("() => window.visitorAnswer !== undefined")
    answer = page.evaluate("window.visitorAnswer")
    assert answer["status"] == 200, answer
    ids = [segment["id"] for segment in answer["results"].get("matchedSegments", [])]
    return ids, page.text_content("#hero"), page.text_content("#aside")


def test_pages_referrer_search_terms_visits_and_match_any_on_a_desktop(page, site, rtp_console):
    page.goto(site["search"])
    page.click("#result")
    page.wait_for_url(site["pricing"])
    assert segments_and_zones(page) == (
        ["pricing", "no-checkout", "referred", "searched"], DEFAULT_HERO, DEFAULT_ASIDE
    )

    page.goto(site["checkout"])  # the first view after entering "pricing": its after_views = 1 campaign shows
    assert segments_and_zones(page) == (
        ["pricing", "referred", "searched", "checkout-or-tablet"], DEFAULT_HERO, "Questions about pricing?"
    )

    second_visit = page.context.new_page()  # a new tab: a new session of the same visitor
    second_visit.goto(site["pricing"])
    assert segments_and_zones(second_visit)[0] == [
        "pricing", "referred", "searched", "returning", "checkout-or-tablet"
    ]
    assert [line for line in rtp_console if line.startswith(("error: rtp:", "pageerror"))] == []


def test_the_device_rule_reads_the_asking_browsers_user_agent(browser, site):
    phone = browser.new_context(user_agent=IPHONE)
    try:
        page = phone.new_page()
        page.goto(site["pricing"])
        assert segments_and_zones(page) == (["pricing", "no-checkout", "mobile"], "Hello, phone", DEFAULT_ASIDE)
    finally:
        phone.close()


# The collector's side, without a browser: views posted as an outbox would send them.


def _view(number: int, ts: int, session: str = "s1", **props: str) -> dict:
    return {"type": "view", "values": [], "event_id": f"e{number}", "session_id": session, "visitor_id": "v1",
            "account": "acme", "url": "https://site.example/", "ts": ts, **({"props": props} if props else {})}


def _segment_ids(rtp_server) -> list[str]:
    answer = rtp_server.get("api/visitor?visitor_id=v1&account=acme")
    return [segment["id"] for segment in answer["matchedSegments"]]


def test_a_custom_variable_rule_follows_the_variables_latest_value_even_when_delivered_late(rtp_server):
    assert rtp_server.post(json.dumps(_view(1, 1000, customVar1="Gold")))[0] == 200
    assert "gold" in _segment_ids(rtp_server)
    rtp_server.post(json.dumps(_view(2, 3000, customVar1="silver")))
    assert "gold" not in _segment_ids(rtp_server)
    # An older setting delivered late (an outbox after an outage) does not undo the later one.
    rtp_server.post(json.dumps(_view(3, 2000, session="s0", customVar1="gold")))
    assert "gold" not in _segment_ids(rtp_server)
    assert "returning" in _segment_ids(rtp_server)  # but its session is a second visit
