"""Single-page apps and zones (issue 12) in real browsers against the real collector:
``data-spa`` turns history changes into views and shows campaigns again; a zone
rendered after the answer gets its campaign; ``data-rtp-zone`` hides a zone until this
visitor's campaigns are answered, or until ``data-zone-timeout``.

"No view was sent" is bounded by a marker: after the navigation that must send
nothing, the page sends a custom data event and the test waits for it to be stored.
Calls are handled in order and the outbox sends its oldest first, so by then any
view the navigation had queued would be stored too.
"""

from __future__ import annotations

from rtp_tag.pytest_plugin import TAG_READY

CAMPAIGNS = """
[[segments]]
id = "wp"
name = "Whitepaper downloaders"
custom_data = "download - example whitepaper"

[[campaigns]]
name = "Hero offer"
segment = "wp"
zone = "hero"
text = "Join the live demo"

[[campaigns]]
name = "Pricing offer"
segment = "wp"
zone = "pricing-banner"
text = "Ten percent off for readers"
"""
DEFAULT_HERO = "Our product"
APP = """<!doctype html><html><head><meta charset="utf-8">
<script src="{tag}"%s></script><link rel="icon" href="data:,">
<script>
  rtp('send', 'view');
  rtp('get', 'campaign', true);
  window.answers = 0;
  document.addEventListener('rtp:campaigns', function () { window.answers += 1; });
  function route(path, how) {  /* what a router does: change the URL, render the route */
    history[how || 'pushState']({}, '', path);
    render();
  }
  function render() {
    var main = document.getElementById('main');
    main.replaceChildren();
    var zone = document.createElement('div');
    zone.id = location.pathname.indexOf('pricing') >= 0 ? 'pricing-banner' : 'hero';
    zone.textContent = 'Our product';
    main.appendChild(zone);
  }
  addEventListener('popstate', render);
</script></head><body><div id="main"><div id="hero">Our product</div></div></body></html>"""




def views(collector) -> list[tuple[str, str]]:
    return [(event["url"], event["referrer"]) for event in collector.events() if event["type"] == "view"]


def marker(page, collector, value: str) -> None:
    page.evaluate("value => rtp('send', 'event', {value: value})", value)
    collector.wait_for_events(1, where=lambda event: value in event["values"])


def in_segment(page, collector) -> None:
    page.evaluate("rtp('send', 'event', {value: 'download - example whitepaper'})")
    collector.wait_for_events(1, where=lambda event: event["type"] == "event")


def test_with_data_spa_each_new_route_is_a_view_and_gets_its_campaigns(page, rtp_server, rtp_pages):
    home = rtp_pages.add("app/index.html", APP % " data-spa")
    origin = home.rsplit("/app/", 1)[0]
    page.goto(home)
    page.wait_for_function("() => window.answers === 1")
    assert page.text_content("#hero") == DEFAULT_HERO  # not in the segment when this page asked
    in_segment(page, rtp_server)

    page.evaluate("route('/app/pricing')")  # the pricing banner is rendered after the answer
    page.wait_for_function("() => window.answers === 2")
    assert page.text_content("#pricing-banner") == "Ten percent off for readers"
    page.evaluate("route('/app/features', 'replaceState')")
    page.wait_for_function("() => window.answers === 3")
    assert page.text_content("#hero") == "Join the live demo"
    page.evaluate("route('/app/features#details')")  # the same page: no view
    page.evaluate("history.back()")  # popstate, back to /app/features
    page.wait_for_function("() => location.hash === ''")
    page.evaluate("history.back()")  # popstate, back to /app/index.html (pricing was replaced)
    page.wait_for_function("() => window.answers === 4")
    page.wait_for_function("() => document.getElementById('hero').textContent === 'Join the live demo'")
    marker(page, rtp_server, "marker")
    assert views(rtp_server) == [
        (home, ""),
        (f"{origin}/app/pricing", home),
        (f"{origin}/app/features", f"{origin}/app/pricing"),
        (home, f"{origin}/app/features"),
    ]


def test_a_zone_rendered_later_is_filled_before_it_is_painted_with_its_default(page, rtp_server, rtp_pages):
    url = rtp_pages.add("app/index.html", APP % "")  # no data-spa: no new answer, only the zone
    page.goto(url)
    page.wait_for_function(TAG_READY)
    in_segment(page, rtp_server)
    page.reload()
    page.wait_for_function("() => window.answers === 1")
    seen = page.evaluate("""() => new Promise(resolve => {
        route('/app/pricing');
        requestAnimationFrame(() => resolve(document.getElementById('pricing-banner').textContent));
    })""")
    assert seen == "Ten percent off for readers"


def test_without_data_spa_history_changes_send_nothing(page, rtp_server, rtp_pages):
    url = rtp_pages.add("app/index.html", APP % "")
    page.goto(url)
    page.wait_for_function(TAG_READY)
    page.wait_for_function("() => window.answers === 1")
    page.evaluate("route('/app/pricing')")
    page.evaluate("route('/app/features', 'replaceState')")
    page.evaluate("history.back()")
    page.wait_for_function("() => location.pathname === '/app/index.html'")
    marker(page, rtp_server, "marker")
    assert views(rtp_server) == [(url, "")]
    assert page.evaluate("window.answers") == 1
