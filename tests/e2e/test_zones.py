"""No flash of default content (issue 12): ``data-rtp-zone`` elements stay hidden,
keeping their place in the layout, until this visitor's campaigns are answered, or
``data-zone-timeout`` ms after the tag started; under a strict Content-Security-Policy
that allows no inline style.

The collector's answer is held by the test (a Playwright route), so "before the answer"
is a state the test controls rather than a race.
"""

from __future__ import annotations

from rtp_tag.pytest_plugin import TAG_READY

CAMPAIGNS = """
[[segments]]
id = "all"
name = "Everyone who clicked"
custom_data = "hello"

[[campaigns]]
name = "Hero offer"
segment = "all"
zone = "hero"
text = "Join the live demo"
"""
PAGE = """<!doctype html><html><head><meta charset="utf-8">
<script src="{tag}"%s></script><link rel="icon" href="data:,">
<script src="page.js"></script></head>
<body><div id="hero" data-rtp-zone>Our product</div><p id="after">after</p></body></html>"""
PAGE_JS = """rtp('send', 'event', {value: 'hello'});
rtp('get', 'campaign', true);
window.answered = false;
document.addEventListener('rtp:campaigns', function () { window.answered = true; });"""
VISIBILITY = "() => getComputedStyle(document.getElementById('hero')).visibility"




def strict_policy(collector) -> dict[str, str]:
    origin = collector.url.rstrip("/")
    return {"Content-Security-Policy": f"default-src 'self'; script-src 'self' {origin} 'wasm-unsafe-eval'; "
            f"connect-src {origin}; worker-src blob:; style-src 'self'; img-src data:"}


def test_a_zone_is_hidden_in_place_until_the_answer_then_shows_the_campaign_under_a_strict_csp(
    page, rtp_server, rtp_pages, rtp_console
):
    held = []
    page.route("**/api/campaigns*", lambda route: held.append(route))
    policy = strict_policy(rtp_server)
    rtp_pages.add("page.js", PAGE_JS)
    url = rtp_pages.add("index.html", PAGE % ' data-zone-timeout="600000"', headers=policy)
    page.goto(url, wait_until="commit")
    page.wait_for_selector("#after", state="attached")
    assert page.evaluate(VISIBILITY) == "hidden"
    assert page.evaluate("document.getElementById('hero').getBoundingClientRect().height") > 0  # keeps its place
    page.wait_for_function(TAG_READY)
    for _ in range(1200):  # the question follows the event's delivery: wait up to a minute for it
        if held:
            break
        page.wait_for_timeout(50)
    assert page.evaluate(VISIBILITY) == "hidden"  # the question is asked, not yet answered
    held[0].continue_()
    page.wait_for_function("() => window.answered")
    assert page.evaluate(VISIBILITY) == "visible"
    assert page.text_content("#hero") == "Join the live demo"
    assert [line for line in rtp_console if "Content-Security-Policy" in line or "pageerror" in line] == []


def test_a_zone_shows_its_own_content_at_the_timeout_when_the_collector_does_not_answer(page, rtp_server, rtp_pages):
    page.route("**/api/campaigns*", lambda route: None)  # a collector that never answers
    rtp_pages.add("page.js", PAGE_JS)
    page.goto(rtp_pages.add("index.html", PAGE % ""), wait_until="commit")  # the default 1,500 ms
    page.wait_for_selector("#after", state="attached")
    page.wait_for_function(VISIBILITY.replace("() =>", "() => 'visible' ===", 1))
    assert page.evaluate("window.answered") is False
    assert page.text_content("#hero") == "Our product"
