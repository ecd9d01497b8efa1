"""The tag end to end (issue 2): pages on a second origin include the tag from the
real collector, and real Chromium and Firefox send custom data events to it.

"Nothing sent" is never asserted after a bare sleep. After the call that must send
nothing, the test makes a good call (a "marker") and waits for it to be stored.
That wait is the bound. The tag handles calls in order, and the outbox sends its
oldest events first, with one request in flight. So an event queued by the
earlier call would travel in the same request as the marker, or in an earlier one.
Once the marker is stored, the collector holds everything the earlier call sent.
The ``wire`` fixture also records every POST the page made, so an event the
collector refused would still show up there.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rtp_tag.protocol import MAX_VALUE_LENGTH, MAX_VALUES_PER_CALL
from rtp_tag.pytest_plugin import TAG_READY, Collector

BOOT_MS = 60_000
"""Generous: the runtime boots in 3-5 s, but other suites share two CPU cores."""
ARRIVAL_S = 60.0
FIELDS = ("type", "values", "event_id", "session_id", "visitor_id", "account", "url", "referrer", "ts")


def html(head: str = "", body: str = "", tag: str = '<script src="{tag}"></script>') -> str:
    """A page with the tag as the first script in <head>, as the reference asks (and no
    favicon request, whose 404 would be one more console error)."""
    head = f'<meta charset="utf-8">{tag}<link rel="icon" href="data:,">{head}'
    return f"<!doctype html><html><head>{head}</head><body>{body}</body></html>"


def ready(target: Any) -> None:
    """Wait until the tag in ``target`` (a page or a frame) has booted."""
    target.wait_for_function(TAG_READY, timeout=BOOT_MS)


def send(target: Any, value: str) -> None:
    target.evaluate("value => rtp('send', 'event', {value: value})", value)


def arrive(collector: Collector, value: str, count: int = 1) -> list[dict[str, Any]]:
    """Wait until ``count`` stored events carry ``value``; return every stored event."""
    collector.wait_for_events(count, timeout=ARRIVAL_S, where=lambda event: value in event["values"])
    return collector.events()


def values(collector: Collector) -> list[list[str]]:
    return [event["values"] for event in collector.events()]


def rtp_messages(console: list[str], kind: str) -> list[str]:
    """The tag's own console messages of one kind ("error", "warning")."""
    return [line for line in console if line.startswith(f"{kind}: rtp:")]


def rtp_error(message: Any) -> bool:
    return message.type == "error" and message.text.startswith("rtp")


def no_throw(call: str) -> str:
    """JavaScript that makes ``call`` and tells whether it threw into the page."""
    return f"() => {{ try {{ {call}; return 'returned'; }} catch (error) {{ return 'threw ' + error; }} }}"



WIRE_RECORDER = """(() => {
  const posts = window.__rtpWire = [];
  const fetch = window.fetch;
  window.fetch = function (input, init) {
    try {
      const url = String(input && input.url || input);
      if (/\\/collect$/.test(url)) posts.push({url: url, body: String(init && init.body)});
    } catch (error) {}
    return fetch.apply(this, arguments);
  };
})();"""
"""Records every body the tag hands to ``fetch`` for a collector. Playwright's own
request events carry no POST body in Firefox (WebDriver BiDi), so the record is
kept in the page; it lasts as long as the document."""


@pytest.fixture
def wire(page: Any) -> Callable[..., list[dict[str, Any]]]:
    """``wire(target=page)``: every event the page (or a frame) POSTed, as sent, with
    the URL it went to under ``posted_to``."""
    page.add_init_script(WIRE_RECORDER)

    def read(target: Any = None) -> list[dict[str, Any]]:
        posts = (target or page).evaluate("window.__rtpWire || []")
        events = []
        for post in posts:
            body = json.loads(post["body"])
            for event in body if isinstance(body, list) else [body]:
                missing = set(FIELDS) - set(event)
                assert not missing, f"a send lacks {sorted(missing)}: {event}"
                events.append({**event, "posted_to": post["url"]})
        return events

    return read


@pytest.fixture
def other_collector(rtp_server: Collector, tmp_path: Path) -> Iterator[Collector]:
    """A second collector (its own port and database), for a pod or data-endpoint."""
    collector = Collector(rtp_server.dist, tmp_path / "other.sqlite3")
    collector.start()
    yield collector
    collector.stop()


def wire_values(wire: Callable[..., list[dict[str, Any]]], target: Any = None) -> list[list[str]]:
    return [event["values"] for event in wire(target)]


# ---- the reference's three examples, verbatim ----------------------------------------


def test_spec_first_example_sends_my_event_with_every_field(page, rtp_server, rtp_pages, wire):
    start = rtp_pages.add("start.html", html(body='<a id="next" href="index.html">whitepaper</a>'))
    url = rtp_pages.add("index.html", html(body="<p>The whitepaper</p>"))
    page.goto(start)
    page.click("#next")  # so the page has a referrer
    page.wait_for_url(url)
    ready(page)
    page.evaluate("var customData = {value: 'MyEvent'};\nrtp('send', 'event', customData);")
    [stored] = arrive(rtp_server, "MyEvent")
    [sent] = wire()
    assert sent.pop("posted_to") == rtp_server.url + "collect"

    assert set(FIELDS) <= set(sent), f"missing {set(FIELDS) - set(sent)}"
    assert sent["type"] == "event" and sent["values"] == ["MyEvent"]
    assert re.fullmatch(r"[0-9a-f]{16,64}", sent["event_id"])
    assert sent["session_id"] and sent["visitor_id"] and sent["session_id"] != sent["visitor_id"]
    assert isinstance(sent["account"], str)
    assert sent["url"] == url and sent["referrer"] == start
    assert isinstance(sent["ts"], int) and abs(sent["ts"] / 1000 - time.time()) < 300
    for field in FIELDS:
        assert stored[field] == sent[field], field


def test_spec_second_example_sends_both_values_in_one_event(page, rtp_server, rtp_pages):
    page.goto(rtp_pages.add("index.html", html()))
    ready(page)
    page.evaluate(
        "var customData = {value: ['MyEvent', 'download - example whitepaper']};\n"
        "rtp('send', 'event', customData);"
    )
    [event] = arrive(rtp_server, "MyEvent")
    assert event["type"] == "event"
    assert event["values"] == ["MyEvent", "download - example whitepaper"]


def test_spec_third_example_inline_onclick_button_sends_its_value(page, rtp_server, rtp_pages, rtp_console):
    button = """<button id="download-whitepaper"
            onclick="rtp('send', 'event', {value :'download - example whitepaper'})">Download</button>"""
    page.goto(rtp_pages.add("whitepaper.html", html(body=button)))
    ready(page)
    page.click("#download-whitepaper")
    [event] = arrive(rtp_server, "download - example whitepaper")
    assert event["values"] == ["download - example whitepaper"]
    assert rtp_messages(rtp_console, "error") == []


# ---- customData shapes ---------------------------------------------------------------


def test_a_bare_string_or_array_is_shorthand_for_value(page, rtp_server, rtp_pages):
    page.goto(rtp_pages.add("index.html", html()))
    ready(page)
    page.evaluate("rtp('send', 'event', 'MyEvent')")
    arrive(rtp_server, "MyEvent")
    page.evaluate("rtp('send', 'event', ['download', 'webinar'])")
    arrive(rtp_server, "webinar")
    longest = "x" * MAX_VALUE_LENGTH
    page.evaluate("value => rtp('send', 'event', [value])", longest)
    arrive(rtp_server, longest)
    assert values(rtp_server) == [["MyEvent"], ["download", "webinar"], [longest]]


def test_more_than_four_values_is_refused_naming_the_limit_and_nothing_is_sent(
    page, rtp_server, rtp_pages, rtp_console, wire
):
    page.goto(rtp_pages.add("index.html", html()))
    ready(page)
    five = [f"value {index}" for index in range(MAX_VALUES_PER_CALL + 1)]
    with page.expect_console_message(rtp_error) as refused:
        outcome = page.evaluate(no_throw(f"rtp('send', 'event', {{value: {json.dumps(five)}}})"))
    assert outcome == "returned"
    message = refused.value.text
    assert message.startswith("rtp: ")
    assert f"at most {MAX_VALUES_PER_CALL}" in message and "again" in message, message

    # As the reference says: call again, at most four each time. Their arrival is the
    # bound for the refused call (see the module docstring).
    page.evaluate(f"rtp('send', 'event', {{value: {json.dumps(five[:4])}}})")
    page.evaluate(f"rtp('send', 'event', {{value: {json.dumps(five[4:])}}})")
    arrive(rtp_server, five[4])
    assert values(rtp_server) == [five[:4], five[4:]]
    assert wire_values(wire) == [five[:4], five[4:]]


BAD_CALLS = {
    "customData missing": "rtp('send', 'event')",
    "customData null": "rtp('send', 'event', null)",
    "customData a number": "rtp('send', 'event', 42)",
    "customData without value": "rtp('send', 'event', {name: 'bad'})",
    "value null": "rtp('send', 'event', {value: null})",
    "value a number": "rtp('send', 'event', {value: 7})",
    "value a nested object": "rtp('send', 'event', {value: {value: 'bad nested'}})",
    "a non-string element": "rtp('send', 'event', {value: ['bad ok', 5]})",
    "a nested array element": "rtp('send', 'event', {value: ['bad ok', ['bad inner']]})",
    "value an empty string": "rtp('send', 'event', {value: ''})",
    "an empty string element": "rtp('send', 'event', {value: ['bad ok', '']})",
    "value an empty array": "rtp('send', 'event', {value: []})",
    "a bare empty string": "rtp('send', 'event', '')",
    "a value too long": f"rtp('send', 'event', {{value: 'b'.repeat({MAX_VALUE_LENGTH + 1})}})",
    "a value cut inside an emoji": "rtp('send', 'event', {value: 'launch \\uD83D\\uDE80'.slice(0, 8)})",
    "a bare array of five": "rtp('send', 'event', ['b1', 'b2', 'b3', 'b4', 'b5'])",
    "customData a DOM node": "rtp('send', 'event', document.body)",
    "customData cyclic": "var loop = {}; loop.value = loop; rtp('send', 'event', loop)",
    "customData a function": "rtp('send', 'event', function () { return 'bad' })",
    "customData a Symbol": "rtp('send', 'event', Symbol('bad'))",
    "customData a BigInt": "rtp('send', 'event', 10n)",
    "value a String object": "rtp('send', 'event', {value: new String('bad boxed')})",
    "a huge array": "rtp('send', 'event', {value: new Array(100000).fill('bad many')})",
    "a getter that throws": "rtp('send', 'event', {get value() { throw new Error('bad getter'); }})",
    "a Proxy that throws": (
        "rtp('send', 'event', new Proxy({}, {ownKeys() { throw new Error('bad proxy'); },"
        " get() { throw new Error('bad proxy'); }}))"
    ),
    "no arguments": "rtp()",
    "a number as command": "rtp(42)",
}


def test_bad_custom_data_gives_one_rtp_console_error_sends_nothing_and_never_throws(
    page, rtp_server, rtp_pages, rtp_console, wire
):
    page.goto(rtp_pages.add("index.html", html()))
    ready(page)
    for name, call in BAD_CALLS.items():
        before = len(rtp_messages(rtp_console, "error"))
        with page.expect_console_message(rtp_error, timeout=30_000) as refused:
            outcome = page.evaluate(no_throw(call))
        assert outcome == "returned", f"{name}: {outcome}"
        assert refused.value.text.startswith("rtp: "), f"{name}: {refused.value.text}"
        page.evaluate("0")  # deliver any further console messages before counting
        assert len(rtp_messages(rtp_console, "error")) == before + 1, f"{name}: {rtp_console[before:]}"

    send(page, "marker")  # the bound: see the module docstring
    arrive(rtp_server, "marker")
    assert values(rtp_server) == [["marker"]]
    assert wire_values(wire) == [["marker"]]
    assert [line for line in rtp_console if line.startswith("pageerror")] == []


def test_bad_calls_queued_before_boot_are_refused_after_it_and_never_throw(
    page, rtp_server, rtp_pages, rtp_console, wire
):
    calls = ",\n".join(f"function () {{ {call}; }}" for call in BAD_CALLS.values())
    script = f"""<script>
    window.outcomes = [{calls}].map(function (call) {{
      try {{ call(); return 'returned'; }} catch (error) {{ return 'threw ' + error; }}
    }});
    </script>"""
    page.goto(rtp_pages.add("index.html", html(head=script)))
    assert page.evaluate("outcomes") == ["returned"] * len(BAD_CALLS)
    ready(page)
    send(page, "marker")  # the bound: see the module docstring
    arrive(rtp_server, "marker")
    assert values(rtp_server) == [["marker"]]
    assert wire_values(wire) == [["marker"]]
    page.evaluate("0")
    errors = rtp_messages(rtp_console, "error")
    assert len(errors) == len(BAD_CALLS), errors
    assert [line for line in rtp_console if line.startswith("pageerror")] == []


def test_an_unknown_command_gives_an_rtp_console_error_and_sends_nothing(
    page, rtp_server, rtp_pages, rtp_console, wire
):
    page.goto(rtp_pages.add("index.html", html()))
    ready(page)
    with page.expect_console_message(rtp_error) as refused:
        outcome = page.evaluate(no_throw("rtp('fly', 'away', {value: 'bad'})"))
    assert outcome == "returned"
    assert refused.value.text.startswith("rtp: unknown command"), refused.value.text
    assert "fly" in refused.value.text

    send(page, "marker")  # the bound: see the module docstring
    arrive(rtp_server, "marker")
    assert values(rtp_server) == [["marker"]]
    assert wire_values(wire) == [["marker"]]


def test_set_account_and_page_views(page, rtp_server, rtp_pages):
    url = rtp_pages.add("index.html", html())
    page.goto(url)
    ready(page)
    page.evaluate(
        "rtp('setAccount', 'ACME-7'); rtp('send', 'view'); rtp('send', 'view', '/pricing?plan=pro');"
        "rtp('send', 'event', {value: 'MyEvent'})"
    )
    events = arrive(rtp_server, "MyEvent")
    assert [(e["type"], e["values"], e["url"]) for e in events] == [
        ("view", [], url),
        ("view", [], f"{rtp_pages.origin}/pricing?plan=pro"),
        ("event", ["MyEvent"], url),
    ]
    assert {event["account"] for event in events} == {"ACME-7"}
    assert len({event["session_id"] for event in events}) == 1


# ---- once per session ----------------------------------------------------------------


def test_a_value_is_sent_once_per_session_and_from_an_array_only_new_values_go(
    page, rtp_server, rtp_pages, wire
):
    page.goto(rtp_pages.add("index.html", html(body='<button id="go" data-rtp-event="download">Go</button>')))
    ready(page)
    page.click("#go")
    arrive(rtp_server, "download")
    page.click("#go")  # already counted in this session: nothing goes
    page.evaluate("rtp('send', 'event', {value: ['download', 'webinar']})")  # only 'webinar' goes
    page.evaluate("rtp('send', 'event', {value: ['webinar', 'download']})")  # nothing goes
    send(page, "marker")  # the bound: see the module docstring
    events = arrive(rtp_server, "marker")
    assert [event["values"] for event in events] == [["download"], ["webinar"], ["marker"]]
    sent = wire()
    assert [event["values"] for event in sent] == [["download"], ["webinar"], ["marker"]]
    assert len({event["event_id"] for event in sent}) == 3  # unique per send
    assert len({event["session_id"] for event in events}) == 1


def test_a_reload_or_another_page_keeps_the_session_and_its_counted_values(page, rtp_server, rtp_pages):
    page.goto(rtp_pages.add("index.html", html(body='<a id="next" href="next.html">next</a>')))
    next_url = rtp_pages.add("next.html", html())
    ready(page)
    send(page, "download")
    [first] = arrive(rtp_server, "download")
    page.reload()
    ready(page)
    send(page, "download")  # counted before the reload: nothing goes
    page.click("#next")
    page.wait_for_url(next_url)
    ready(page)
    send(page, "download")  # counted on the first page: nothing goes
    send(page, "marker")  # the bound: see the module docstring
    events = arrive(rtp_server, "marker")
    assert [event["values"] for event in events] == [["download"], ["marker"]]
    assert events[1]["session_id"] == first["session_id"]
    assert events[1]["visitor_id"] == first["visitor_id"]
    assert events[1]["url"] == next_url


def test_a_new_tab_or_context_is_a_new_session_and_the_visitor_id_stays_with_the_context(
    browser, context, page, rtp_server, rtp_pages
):
    url = rtp_pages.add("index.html", html())
    page.goto(url)
    ready(page)
    send(page, "download")
    [first] = arrive(rtp_server, "download")

    tab = context.new_page()  # same browser context: same visitor, new session
    tab.goto(url)
    ready(tab)
    send(tab, "download")
    second = arrive(rtp_server, "download", 2)[1]
    assert second["session_id"] != first["session_id"]
    assert second["visitor_id"] == first["visitor_id"]

    other = browser.new_context()  # a new browser context: new visitor, new session
    try:
        stranger = other.new_page()
        stranger.set_default_timeout(BOOT_MS)
        stranger.goto(url)
        ready(stranger)
        send(stranger, "download")
        third = arrive(rtp_server, "download", 3)[2]
    finally:
        other.close()
    assert third["session_id"] not in (first["session_id"], second["session_id"])
    assert third["visitor_id"] != first["visitor_id"]

    send(page, "download")  # the first tab's session still counts it: nothing goes
    send(page, "marker")  # the bound: see the module docstring
    events = arrive(rtp_server, "marker")
    assert [event["values"] for event in events] == [["download"]] * 3 + [["marker"]]
    assert events[3]["session_id"] == first["session_id"]


def test_a_tab_opened_by_window_open_is_a_new_session_and_never_counts_a_value_twice_in_one(
    context, page, rtp_server, rtp_pages
):
    url = rtp_pages.add("index.html", html())
    page.goto(url)
    ready(page)
    send(page, "download")
    arrive(rtp_server, "download")
    with context.expect_page() as opened:
        page.evaluate("url => { window.open(url); }", url)
    tab = opened.value
    tab.set_default_timeout(BOOT_MS)
    ready(tab)
    send(tab, "webinar")
    send(page, "webinar")
    send(tab, "marker in the tab")  # the bound for each tab: see the module docstring
    send(page, "marker in the opener")
    arrive(rtp_server, "marker in the tab")
    events = arrive(rtp_server, "marker in the opener")
    counted = [(event["session_id"], value) for event in events for value in event["values"]]
    assert len(counted) == len(set(counted)), counted
    # The opened tab got a copy of the opener's sessionStorage, yet it is a new tab: a new session.
    sessions = {value: event["session_id"] for event in events for value in event["values"]}
    assert sessions["marker in the tab"] != sessions["marker in the opener"]
    assert sessions["marker in the opener"] == sessions["download"]


def test_a_session_ends_after_the_configured_inactivity(page, rtp_server, rtp_pages):
    tag = '<script src="{tag}" data-session-timeout="0.05"></script>'  # 3 s
    page.goto(rtp_pages.add("index.html", html(tag=tag)))
    ready(page)
    send(page, "download")
    [first] = arrive(rtp_server, "download")
    page.wait_for_timeout(4_000)  # the passing of time is what is tested: 3 s of inactivity
    send(page, "download")
    second = arrive(rtp_server, "download", 2)[1]
    assert second["session_id"] != first["session_id"]
    assert second["visitor_id"] == first["visitor_id"]


# ---- before the runtime is ready -----------------------------------------------------


def test_clicks_before_the_runtime_is_ready_arrive_once_in_order(page, rtp_server, rtp_pages, wire):
    body = """<button id="go" data-rtp-event="early declarative">Go</button>
    <button id="inline" onclick="rtp('send', 'event', {value: 'early inline'})">Inline</button>"""
    held: list[Any] = []
    releasing = False

    def hold_runtime(route: Any) -> None:
        """Keep the runtime from arriving until the clicks are made, so they surely come first."""
        if releasing:
            route.continue_()
        else:
            held.append(route)

    page.route("**/*.wasm*", hold_runtime)
    page.goto(rtp_pages.add("index.html", html(body=body)))
    page.click("#go")
    page.click("#inline")
    assert page.evaluate("rtp.loaded") is False
    releasing = True
    for route in held:
        route.continue_()
    ready(page)
    send(page, "marker")
    events = arrive(rtp_server, "marker")
    assert [event["values"] for event in events] == [["early declarative"], ["early inline"], ["marker"]]
    assert len({event["event_id"] for event in events}) == 3
    assert wire_values(wire) == [["early declarative"], ["early inline"], ["marker"]]


def test_a_call_queued_before_boot_keeps_its_data_as_it_was_when_made(page, rtp_server, rtp_pages):
    """A page may reuse one customData object: changing it after rtp() returned must
    not change (and so lose) the call still waiting for the runtime."""
    script = """<script>
    var customData = {value: 'first'};
    rtp('send', 'event', customData);
    customData.value = 'second';
    rtp('send', 'event', customData);
    var many = ['third'];
    rtp('send', 'event', {value: many});
    many.push('fourth');
    </script>"""
    page.goto(rtp_pages.add("index.html", html(head=script)))
    ready(page)
    send(page, "marker")
    arrive(rtp_server, "marker")
    assert values(rtp_server) == [["first"], ["second"], ["third"], ["marker"]]


# ---- declarative binding -------------------------------------------------------------


def test_data_rtp_event_on_an_element_inside_it_and_on_an_element_added_later(page, rtp_server, rtp_pages):
    body = """<button id="direct" data-rtp-event="direct">Direct</button>
    <div data-rtp-event="card"><p>A card <span id="inner">with a child</span></p></div>"""
    page.goto(rtp_pages.add("index.html", html(body=body)))
    ready(page)
    page.click("#direct")
    page.click("#inner")
    page.evaluate(
        "document.body.insertAdjacentHTML('beforeend',"
        " '<a id=\"later\" href=\"#\" data-rtp-event=\"added later\"><span id=\"later-child\">x</span></a>')"
    )
    page.click("#later-child")
    arrive(rtp_server, "added later")
    assert values(rtp_server) == [["direct"], ["card"], ["added later"]]


# ---- including the tag ---------------------------------------------------------------


def old_snippet(host: str, account: str) -> str:
    """The reference's older deploy snippet, verbatim but for HOST and ACCOUNT."""
    return """<script>
(function(c,h,a,f,i,e){c[a]=c[a]||function(){(c[a].q=c[a].q||[]).push(arguments)};
 c[a].a=i;c[a].e=e;var g=h.createElement("script");g.async=true;g.type="text/javascript";
 g.src=f+'?aid='+i;var b=h.getElementsByTagName("script")[0];b.parentNode.insertBefore(g,b);
})(window,document,"rtp","//HOST/rtp-api/v1/rtp.js","ACCOUNT");
rtp('send','view');
rtp('get','campaign',true);
</script>""".replace("HOST", host).replace("ACCOUNT", account)


def current_snippet(script_url: str, pod_url: str, account: str) -> str:
    """The reference's current deploy snippet, verbatim but for its three arguments."""
    return """<script>
(function(c,h,a,f,e,i){c[a]=c[a]||function(){(c[a].q=c[a].q||[]).push(arguments)};
 c[a].p=e;c[a].a=i;var g=h.createElement("script");g.async=true;g.type="text/javascript";
 g.src=f;var b=h.getElementsByTagName("script")[0];b.parentNode.insertBefore(g,b);
})(window,document,"rtp","SCRIPT_URL","POD_URL","ACCOUNT");
</script>""".replace("SCRIPT_URL", script_url).replace("POD_URL", pod_url).replace("ACCOUNT", account)


BUTTON = """<button id="download-whitepaper"
        onclick="rtp('send', 'event', {value :'download - example whitepaper'})">Download</button>"""


def test_the_older_marketo_snippet_works_with_its_account(page, rtp_server, rtp_pages):
    host = f"127.0.0.1:{rtp_server.port}"
    url = rtp_pages.add("index.html", html(tag=old_snippet(host, "561-HYG-937"), body=BUTTON))
    page.goto(url)
    ready(page)
    assert page.evaluate("rtp.a") == "561-HYG-937"
    page.click("#download-whitepaper")
    events = arrive(rtp_server, "download - example whitepaper")
    assert [(event["type"], event["values"]) for event in events] == [
        ("view", []),
        ("event", ["download - example whitepaper"]),
    ]
    assert {event["account"] for event in events} == {"561-HYG-937"}
    assert events[0]["url"] == url


def test_the_current_marketo_snippet_sends_to_its_pod_with_its_account(
    page, rtp_server, other_collector, rtp_pages, wire
):
    pod = f"//127.0.0.1:{other_collector.port}"
    snippet = current_snippet(rtp_server.tag_url, pod, "561-HYG-937")
    view = "<script>rtp('send','view');</script>"
    page.goto(rtp_pages.add("index.html", html(tag=snippet + view, body=BUTTON)))
    ready(page)
    page.click("#download-whitepaper")
    events = arrive(other_collector, "download - example whitepaper")
    assert [(event["type"], event["values"]) for event in events] == [
        ("view", []),
        ("event", ["download - example whitepaper"]),
    ]
    assert {event["account"] for event in events} == {"561-HYG-937"}
    assert rtp_server.events() == []  # the script's own origin received nothing
    sent = wire()
    assert {event["posted_to"] for event in sent} == {other_collector.url + "collect"}
    assert {event["account"] for event in sent} == {"561-HYG-937"}


def test_a_data_endpoint_attribute_sets_the_collector_and_aid_the_account(
    page, rtp_server, other_collector, rtp_pages, wire
):
    tag = f'<script src="{{tag}}?aid=AID-42" data-endpoint="{other_collector.url}"></script>'
    page.goto(rtp_pages.add("index.html", html(tag=tag, body=BUTTON)))
    ready(page)
    page.click("#download-whitepaper")
    [event] = arrive(other_collector, "download - example whitepaper")
    assert event["account"] == "AID-42"
    assert rtp_server.events() == []
    assert [sent["posted_to"] for sent in wire()] == [other_collector.url + "collect"]


def test_the_tag_included_twice_boots_once_and_sends_once_per_click(page, rtp_server, rtp_pages, wire):
    boots: list[str] = []  # fetches of our package: one per runtime booted

    def count_boot(request: Any) -> None:
        if re.search(r"/rtp_tag[^/]*\.zip", request.url):
            boots.append(request.url)

    page.on("request", count_boot)
    head = """<script src="{tag}"></script>
    <script>
    window.readyCount = 0;
    document.addEventListener('rtp:ready', function () { readyCount++; });
    </script>"""
    body = '<button id="go" data-rtp-event="go">Go</button>' + BUTTON
    page.goto(rtp_pages.add("index.html", html(head=head, body=body)))
    ready(page)
    # A third copy, added after the first has booted, changes nothing either.
    page.evaluate(
        """tag => new Promise(resolve => {
            var script = document.createElement('script');
            script.src = tag; script.onload = resolve; document.head.appendChild(script);
        })""",
        rtp_server.tag_url,
    )
    page.click("#go")
    page.click("#download-whitepaper")
    page.evaluate("rtp('send', 'event', {value: 'api'})")
    events = arrive(rtp_server, "api")
    assert [event["values"] for event in events] == [["go"], ["download - example whitepaper"], ["api"]]
    assert wire_values(wire) == [["go"], ["download - example whitepaper"], ["api"]]
    assert page.evaluate("readyCount") == 1
    assert len(boots) == 1, boots


def test_rtp_is_defined_at_once_and_loaded_with_rtp_ready_when_booted(page, rtp_server, rtp_pages):
    head = """<script>
    window.atStart = {type: typeof rtp, loaded: rtp.loaded};
    window.readyLog = [];
    document.addEventListener('rtp:ready', function () { readyLog.push(rtp.loaded); });
    </script>"""
    page.goto(rtp_pages.add("index.html", html(head=head)))
    ready(page)
    assert page.evaluate("atStart") == {"type": "function", "loaded": False}
    assert page.evaluate("readyLog") == [True]
    assert page.evaluate("rtp.loaded") is True


SNAPSHOT_KEPT = """async () => (await (await caches.open("rtp-tag-snapshots")).keys()).length === 1"""
GO = '<button id="go" data-rtp-event="{value}">Go</button>'


def test_a_first_page_starts_python_in_a_worker_and_later_pages_restore_the_kept_snapshot(
    page, rtp_server, rtp_pages, rtp_console
):
    """Issue 5: Python's start-up (seconds of main-thread work) runs in a worker on a
    first visit; the page restores the worker's memory snapshot, keeps it, and the
    visit's later pages restore that with no worker at all."""
    workers: list[str] = []
    page.on("worker", lambda worker: workers.append(worker.url))
    page.goto(rtp_pages.add("first.html", html(body=GO.format(value="first page"))))
    ready(page)
    assert [url.split(":")[0] for url in workers] == ["blob"]
    page.click("#go")
    arrive(rtp_server, "first page")
    page.wait_for_function(SNAPSHOT_KEPT, timeout=BOOT_MS)

    page.goto(rtp_pages.add("later.html", html(body=GO.format(value="later page"))))
    ready(page)  # the tag starts a worker only before it is ready, so none came
    assert len(workers) == 1
    page.click("#go")
    events = arrive(rtp_server, "later page")
    assert [event["values"] for event in events] == [["first page"], ["later page"]]
    assert len({event["session_id"] for event in events}) == 1
    assert [line for line in rtp_console if "rtp:" in line or line.startswith("pageerror")] == []


CORRUPT_SNAPSHOT = """async () => {
  const cache = await caches.open("rtp-tag-snapshots");
  const [key] = await cache.keys();
  const header = new Uint32Array([0x72747031, 1 << 20, 0]);  /* a valid sparse file of 1 MiB of zeros */
  await cache.put(key, new Response(header));
}"""


def test_a_kept_snapshot_that_does_not_restore_is_dropped_and_the_page_starts_python_itself(
    page, rtp_server, rtp_pages, rtp_console
):
    page.goto(rtp_pages.add("first.html", html(body=GO.format(value="first page"))))
    ready(page)
    page.wait_for_function(SNAPSHOT_KEPT, timeout=BOOT_MS)
    page.evaluate(CORRUPT_SNAPSHOT)  # what a browser's storage or a bug might leave
    page.goto(rtp_pages.add("later.html", html(body=GO.format(value="later page"))))
    ready(page)
    page.click("#go")
    arrive(rtp_server, "later page")
    replaced = """async () => {
      const cache = await caches.open("rtp-tag-snapshots");
      const kept = await cache.keys();
      return kept.length === 1 && (await (await cache.match(kept[0])).arrayBuffer()).byteLength > 12;
    }"""
    page.wait_for_function(replaced, timeout=BOOT_MS)  # the page kept a good one instead
    assert [line for line in rtp_console if "rtp:" in line or line.startswith("pageerror")] == []


# ---- hostile environments ------------------------------------------------------------


def test_in_a_sandboxed_iframe_without_storage_the_tag_works_and_warns_once(
    page, rtp_server, rtp_pages, rtp_console
):
    frame_body = """<button id="go" data-rtp-event="in sandbox">Go</button>
    <script>rtp('send', 'event', {value: 'queued in sandbox'});</script>"""
    frame_url = rtp_pages.add("frame.html", html(body=frame_body))
    parent = '<!doctype html><iframe id="f" sandbox="allow-scripts" src="frame.html"></iframe>'
    page.goto(rtp_pages.add("index.html", parent))
    frame = next(frame for frame in page.frames if frame.url == frame_url)
    probe = "() => { try { sessionStorage.length; return 'usable'; } catch (error) { return 'throws'; } }"
    assert frame.evaluate(probe) == "throws"  # the premise of the test
    ready(frame)
    frame.click("#go")
    arrive(rtp_server, "in sandbox")
    frame.click("#go")  # in-memory state still counts values once
    send(frame, "marker")  # the bound: see the module docstring
    events = arrive(rtp_server, "marker")
    assert [event["values"] for event in events] == [["queued in sandbox"], ["in sandbox"], ["marker"]]
    assert len({event["session_id"] for event in events}) == 1
    page.evaluate("0")
    warnings = rtp_messages(rtp_console, "warning")
    assert len(warnings) == 1, rtp_console
    assert "storage" in warnings[0].lower()
    assert rtp_messages(rtp_console, "error") == []
    assert [line for line in rtp_console if line.startswith("pageerror")] == []


def content_security_policy(collector: Collector, workers: str, wasm: bool) -> str:
    """The README's policy for the tag, less ``'wasm-unsafe-eval'`` unless ``wasm``, and
    less ``worker-src blob:`` unless ``workers`` is "blob workers allowed"."""
    origin = collector.url.rstrip("/")
    script_src = f"'self' {origin}" + (" 'wasm-unsafe-eval'" if wasm else "")
    policy = f"script-src {script_src}; connect-src {origin}"
    return policy + ("; worker-src blob:" if workers == "blob workers allowed" else "")


@pytest.mark.parametrize("workers", ["blob workers allowed", "no worker-src"])
def test_under_a_strict_content_security_policy_a_declarative_button_works(
    page, rtp_server, rtp_pages, rtp_console, workers
):
    """The README's policy, and the same without ``worker-src blob:``: the browser then
    refuses the boot worker and the tag starts Python on the page itself."""
    policy = content_security_policy(rtp_server, workers, wasm=True)
    started: list[str] = []
    page.on("worker", lambda worker: started.append(worker.url))
    rtp_pages.add(
        "strict.js",
        "document.addEventListener('rtp:ready', function () {\n"
        "  rtp('send', 'event', {value: 'from the page script'});\n"
        "});\n",
    )
    page_html = html(
        head='<script src="strict.js"></script><script>window.inlineRan = true;</script>',
        body='<button id="download" data-rtp-event="strict download">Download</button>',
    )
    page.goto(rtp_pages.add("strict.html", page_html, headers={"Content-Security-Policy": policy}))
    assert page.evaluate("window.inlineRan === undefined")  # the policy is in force
    ready(page)
    page.click("#download")
    events = arrive(rtp_server, "strict download")
    assert [event["values"] for event in events] == [["from the page script"], ["strict download"]]
    assert rtp_messages(rtp_console, "error") == []
    if workers == "blob workers allowed":
        assert len(started) == 1  # Python started off the main thread


@pytest.mark.parametrize("workers", ["blob workers allowed", "no worker-src"])
def test_a_policy_without_wasm_unsafe_eval_gets_one_clear_error_and_the_page_keeps_working(
    page, rtp_server, rtp_pages, rtp_console, workers
):
    """Pyodide waits forever when the policy refuses WebAssembly, in the page and in
    the boot worker alike: the tag says why, at once, rather than hanging."""
    policy = content_security_policy(rtp_server, workers, wasm=False)
    url = rtp_pages.add("strict.html", html(body='<button id="go" data-rtp-event="kept">Go</button>'),
                        headers={"Content-Security-Policy": policy})
    expected = "rtp: the tag could not start (the page's Content-Security-Policy blocks WebAssembly"
    with page.expect_console_message(lambda m: m.text.startswith(expected), timeout=BOOT_MS // 2):
        page.goto(url)  # well within the 60 s watchdog, whose message differs
    page.click("#go")  # rtp() still takes calls, kept for a later page
    assert page.evaluate("typeof rtp") == "function"
    assert len(rtp_messages(rtp_console, "error")) == 1


def test_when_local_storage_is_full_the_tag_works_in_memory_and_warns_once(
    page, rtp_server, rtp_pages, rtp_console
):
    fill = """<script>
    (function () {
      var chunk = new Array(1 << 20).join('x'), i = 0;  /* 1 MiB, then smaller, until refused */
      while (chunk.length) {
        try { localStorage.setItem('fill:' + i++, chunk); }
        catch (error) { chunk = chunk.slice(0, Math.floor(chunk.length / 2)); }
      }
    })();
    </script>"""
    button = '<button id="go" data-rtp-event="go">Go</button>'
    page.goto(rtp_pages.add("index.html", html(head=fill, body=button)))
    probe = "() => { try { localStorage.setItem('p', 'x'.repeat(16)); } catch (e) { return 'full'; } }"
    assert page.evaluate(probe) == "full"  # the premise of the test
    ready(page)
    page.click("#go")
    arrive(rtp_server, "go")
    page.click("#go")  # still counted once
    send(page, "marker")  # the bound: see the module docstring
    events = arrive(rtp_server, "marker")
    assert [event["values"] for event in events] == [["go"], ["marker"]]
    page.evaluate("0")
    warnings = rtp_messages(rtp_console, "warning")
    assert len(warnings) == 1 and "localStorage" in warnings[0], rtp_console
    assert rtp_messages(rtp_console, "error") == []
