"""Consent and privacy (issue 11), in real Chromium and Firefox against the real collector:
what the browser stores and what reaches the collector in each state.

"Nothing sent" has a positive bound. The tag handles the calls made before it was
ready synchronously, in order, when it boots, and starts any request from inside
the call that queued it. The page's last early call is ``get visitor``, whose
callback is answered at once when there is no consent. So once that callback has
run, every earlier call has been handled, and any request it caused has been
handed to ``fetch``, which the ``wire`` recorder sees (all of the tag's requests,
``/collect``, ``/forget`` and the personalization API alike).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from rtp_tag.consent import PRIVACY_KEY
from rtp_tag.pytest_plugin import TAG_READY, Collector

ARRIVAL_S = 60.0
DEFAULT_HERO = "Our product"
CAMPAIGNS = """
[[segments]]
id = "readers"
name = "Readers"
custom_data = "read"

[[campaigns]]
name = "For readers"
segment = "readers"
zone = "hero"
text = "Welcome back, reader"
"""
EARLY_CALLS = """<script>
  rtp('send', 'view');
  rtp('send', 'event', {value: 'read'});
  rtp('get', 'campaign', true);
  rtp('get', 'visitor', function (answer) { window.visitorAnswer = answer; });
</script>"""
WIRE = """(() => {
  const requests = window.__rtpRequests = [];
  const fetch = window.fetch;
  window.fetch = function (input, init) {
    try {
      const url = String(input && input.url || input);
      if (!/\\.(js|mjs|wasm|zip|json|data)(\\?|$)/.test(url) && !/pyodide|rt-/.test(url)) {
        requests.push({url: url, method: (init && init.method) || 'GET', body: init && init.body ? String(init.body) : null});
      }
    } catch (error) {}
    return fetch.apply(this, arguments);
  };
})();"""
GPC_ON = "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true, configurable: true});"
DNT_ON = "Object.defineProperty(Navigator.prototype, 'doNotTrack', {get: () => '1', configurable: true});"
STORED = """() => {
  const read = store => Object.fromEntries(Object.keys(store).map(key => [key, store.getItem(key)]));
  return {local: read(localStorage), session: read(sessionStorage), cookies: document.cookie};
}"""
NOTHING = {"local": {}, "session": {}, "cookies": ""}


def page_html(script_attributes: str = "", body: str = "") -> str:
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><script src="{{tag}}" {script_attributes}></script>'
        f'<link rel="icon" href="data:,">{EARLY_CALLS}</head>'
        f'<body><div id="hero">{DEFAULT_HERO}</div>{body}</body></html>'
    )


@pytest.fixture(autouse=True)
def _wired(page: Any) -> None:
    page.add_init_script(WIRE)


def handled(page: Any) -> dict[str, Any]:
    """Wait until the tag has handled the page's early calls; return the visitor answer."""
    page.wait_for_function(TAG_READY)
    page.wait_for_function("() => window.visitorAnswer !== undefined")
    return page.evaluate("window.visitorAnswer")


def requests(page: Any) -> list[dict[str, Any]]:
    return page.evaluate("window.__rtpRequests")


def stored(page: Any) -> dict[str, Any]:
    return page.evaluate(STORED)


def privacy_record(page: Any) -> dict[str, Any]:
    return json.loads(stored(page)["local"][PRIVACY_KEY])


def hero(page: Any) -> str:
    return page.inner_text("#hero")


def tracked(collector: Collector, values: list[str], visitor: str | None = None) -> list[dict[str, Any]]:
    """Wait for one stored event per value (views as "view"); return the visitor's events
    and views (campaign impressions, which showing a campaign adds, are not calls)."""
    def label(event: dict[str, Any]) -> str:
        return event["values"][0] if event["values"] else event["type"]

    collector.wait_for_events(len(values), timeout=ARRIVAL_S, where=lambda event: label(event) in values)
    events = [event for event in collector.events(visitor) if event["type"] in ("event", "view")]
    assert sorted(label(event) for event in events) == sorted(values)
    return events


def erased(collector: Collector, visitor: str) -> None:
    """Wait until the collector holds nothing of ``visitor`` (it held events before)."""
    deadline = time.monotonic() + ARRIVAL_S
    while collector.events(visitor):
        assert time.monotonic() < deadline, f"the collector still holds {collector.events(visitor)}"
        time.sleep(0.1)


NO_SEGMENTS = {"status": 200, "results": {}}


# ---- consent mode ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "attributes, snippet",
    [("data-require-consent", ""), ("", "<script>rtp('requireConsent');</script>")],
    ids=["data-require-consent", "rtp-requireConsent"],
)
def test_before_consent_nothing_is_stored_or_sent_then_the_held_calls_arrive_once(
    page, rtp_server, rtp_pages, rtp_console, attributes, snippet
):
    html = page_html(attributes).replace(EARLY_CALLS, snippet + EARLY_CALLS)
    url = rtp_pages.add("index.html", html)
    rtp_pages.add("next.html", page_html(attributes).replace(EARLY_CALLS, snippet + EARLY_CALLS))
    page.goto(url)
    assert handled(page) == NO_SEGMENTS  # personalization stays silent
    assert stored(page) == NOTHING
    assert requests(page) == []  # nothing sent, not even a question to the collector
    assert hero(page) == DEFAULT_HERO

    page.evaluate("rtp('consent', true)")
    events = tracked(rtp_server, ["view", "read"])
    assert len({event["visitor_id"] for event in events}) == 1
    page.wait_for_function(f"() => document.getElementById('hero').textContent !== {json.dumps(DEFAULT_HERO)}")
    assert hero(page) == "Welcome back, reader"  # the held get campaign ran after consent
    assert privacy_record(page) == {"consent": True}

    page.goto(rtp_pages.origin + "/next.html")  # a later page needs no call
    assert handled(page)["results"] == {"matchedSegments": [{"id": "readers", "name": "Readers"}]}
    tracked(rtp_server, ["view", "read", "view"], events[0]["visitor_id"])
    assert [line for line in rtp_console if line.startswith("error")] == []


def test_a_refusal_drops_the_held_calls_and_stores_only_the_refusal(page, rtp_server, rtp_pages):
    url = rtp_pages.add("index.html", page_html("data-require-consent"))
    page.goto(url)
    handled(page)
    page.evaluate("rtp('consent', false); rtp('send', 'event', {value: 'after refusal'})")
    assert stored(page) == {**NOTHING, "local": {PRIVACY_KEY: '{"consent":false}'}}
    page.reload()  # a later page stays silent
    assert handled(page) == NO_SEGMENTS
    assert stored(page) == {**NOTHING, "local": {PRIVACY_KEY: '{"consent":false}'}}
    assert requests(page) == [] and hero(page) == DEFAULT_HERO
    page.evaluate("rtp('consent', true); rtp('send', 'event', {value: 'marker'})")
    [event] = rtp_server.wait_for_events(1, timeout=ARRIVAL_S)
    assert event["values"] == ["marker"]  # the refused page's calls never went


def test_bad_consent_calls_give_one_error_naming_true_and_false_and_change_nothing(
    page, rtp_server, rtp_pages, rtp_console
):
    page.goto(rtp_pages.add("index.html", page_html("data-require-consent")))
    handled(page)
    for call in ("rtp('consent', 'maybe')", "rtp('consent')"):
        with page.expect_console_message(lambda message: message.type == "error") as refused:
            assert page.evaluate(f"() => {{ {call}; return 'returned'; }}") == "returned"
        assert refused.value.text.startswith("rtp: ") and "true or false" in refused.value.text
    assert stored(page) == NOTHING and requests(page) == []
    assert len([line for line in rtp_console if line.startswith("error")]) == 2


def test_calls_left_unsent_before_consent_are_not_saved_by_the_loader(page, rtp_server, rtp_pages):
    """The loader saves calls still queued when a page is left before the runtime is
    ready (rtp:early:*): not before consent."""
    url = rtp_pages.add("index.html", page_html("data-require-consent", '<a id="next" href="plain.html">next</a>'))
    rtp_pages.add("plain.html", "<!doctype html><p>a page of the site without the tag</p>")
    held: list[Any] = []
    page.route("**/*.wasm*", lambda route: held.append(route) if route.request.method == "GET" else route.continue_())
    page.goto(url, wait_until="domcontentloaded")
    page.evaluate("rtp('send', 'event', {value: 'left early'})")
    assert page.evaluate("rtp.loaded") is False
    page.click("#next")
    page.wait_for_url("**/plain.html")
    page.unroute_all(behavior="ignoreErrors")
    assert stored(page) == NOTHING


# ---- opt-out ---------------------------------------------------------------------------


def test_opt_out_erases_the_visitor_here_and_at_the_collector_even_when_the_page_is_left_at_once(
    page, rtp_server, rtp_pages
):
    url = rtp_pages.add("index.html", page_html())
    rtp_pages.add("plain.html", "<!doctype html><p>a page of the site without the tag</p>")
    rtp_pages.add("next.html", page_html())
    page.goto(url)
    handled(page)
    [visitor] = {event["visitor_id"] for event in tracked(rtp_server, ["view", "read"])}
    page.evaluate("rtp('optOut'); location.href = 'plain.html'")  # keepalive: the request outlives the page
    page.wait_for_url("**/plain.html")
    erased(rtp_server, visitor)
    assert rtp_server.get(f"api/visitor?visitor_id={visitor}") == {"matchedSegments": []}  # derived state too
    assert set(stored(page)["local"]) == {PRIVACY_KEY} and stored(page)["session"] == {}

    page.goto(rtp_pages.origin + "/next.html")
    assert handled(page) == NO_SEGMENTS
    page.evaluate("rtp('send', 'event', {value: 'after opt-out'})")
    # The first page left before the collector's answer: this one may repeat the
    # request (the collector forgets once), and then keeps the opt-out alone.
    assert {request["url"] for request in requests(page)} <= {rtp_server.url + "forget"}
    page.wait_for_function(f"() => localStorage.getItem({json.dumps(PRIVACY_KEY)}) === '{{\"optedOut\":true}}'")
    assert stored(page) == {**NOTHING, "local": {PRIVACY_KEY: '{"optedOut":true}'}}
    assert hero(page) == DEFAULT_HERO and rtp_server.events() == []

    page.evaluate("rtp('optIn'); rtp('send', 'event', {value: 'back'})")
    [event] = rtp_server.wait_for_events(1, timeout=ARRIVAL_S)
    assert event["values"] == ["back"] and event["visitor_id"] != visitor
    assert PRIVACY_KEY not in stored(page)["local"]


def test_a_forget_request_the_collector_missed_is_sent_from_a_later_page(page, rtp_server, rtp_pages):
    url = rtp_pages.add("index.html", page_html())
    plain = rtp_pages.add("plain.html", "<!doctype html><p>a page of the site without the tag</p>")
    page.goto(url)
    handled(page)
    [visitor] = {event["visitor_id"] for event in tracked(rtp_server, ["view", "read"])}
    rtp_server.stop()
    with page.expect_event("requestfailed", lambda request: request.url.endswith("/forget")):
        page.evaluate("rtp('optOut')")
    assert privacy_record(page)["forget"][0]["visitor_id"] == visitor  # kept until acknowledged
    assert set(stored(page)["local"]) == {PRIVACY_KEY} and stored(page)["session"] == {}
    page.goto(plain)  # this page's retries end with it
    rtp_server.start()
    page.goto(url)
    handled(page)
    erased(rtp_server, visitor)
    page.wait_for_function(f"() => localStorage.getItem({json.dumps(PRIVACY_KEY)}) === '{{\"optedOut\":true}}'")
    assert [request["url"] for request in requests(page)] == [rtp_server.url + "forget"]


# ---- browser signals -------------------------------------------------------------------


@pytest.mark.parametrize(
    "signal, attributes",
    [(GPC_ON, ""), (DNT_ON, "data-do-not-track")],
    ids=["global-privacy-control", "do-not-track"],
)
def test_a_browser_signal_the_site_honours_opts_out_storing_and_sending_nothing(
    page, rtp_server, rtp_pages, signal, attributes
):
    page.add_init_script(signal)
    page.goto(rtp_pages.add("index.html", page_html(attributes)))
    assert handled(page) == NO_SEGMENTS
    assert stored(page) == NOTHING and requests(page) == [] and hero(page) == DEFAULT_HERO


@pytest.mark.parametrize(
    "signal, attributes",
    [(GPC_ON, 'data-gpc="ignore"'), (DNT_ON, "")],
    ids=["gpc-ignored-by-the-site", "dnt-without-data-do-not-track"],
)
def test_a_signal_the_site_does_not_honour_leaves_tracking_on(page, rtp_server, rtp_pages, signal, attributes):
    page.add_init_script(signal)
    page.goto(rtp_pages.add("index.html", page_html(attributes)))
    handled(page)
    tracked(rtp_server, ["view", "read"])


def test_an_unknown_data_gpc_value_is_one_error_naming_ignore_and_gpc_is_honoured(
    page, rtp_server, rtp_pages, rtp_console
):
    page.add_init_script(GPC_ON)
    page.goto(rtp_pages.add("index.html", page_html('data-gpc="maybe"')))
    handled(page)
    errors = [line for line in rtp_console if line.startswith("error")]
    assert len(errors) == 1 and errors[0].startswith("error: rtp: ") and '"ignore"' in errors[0]
    assert stored(page) == NOTHING and requests(page) == []
