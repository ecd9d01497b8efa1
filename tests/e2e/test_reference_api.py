"""The rest of the reference API (issue 12) in real browsers against the real
collector: ``rtp.checkPattern``, ``rtp('send', 'redirect', ...)``, custom variables,
and the documented calls rtp-tag does not offer, which log and never throw.

"Did not redirect" is bounded the way answers are ordered: a ``get visitor`` asked
after the redirect is answered after the redirect was decided, so once its callback
has run on the page, a redirect would already have replaced it.
"""

from __future__ import annotations

import json
from pathlib import Path

from rtp_tag.pytest_plugin import TAG_READY

CASES = json.loads((Path(__file__).resolve().parents[1] / "unit" / "check_pattern_cases.json").read_text("utf-8"))[
    "cases"
]
CAMPAIGNS = """
[[segments]]
id = "wp"
name = "Whitepaper downloaders"
custom_data = "download - example whitepaper"
"""
PAGE_ERRORS = """<script>
  window.pageErrors = [];
  addEventListener('error', function (e) { pageErrors.push(String(e.message)); });
  addEventListener('unhandledrejection', function (e) { pageErrors.push(String(e.reason)); });
</script>"""
DECIDED = "() => window.decided === true"




def tag_page(body: str = "", head: str = "") -> str:
    return (f'<!doctype html><html><head><meta charset="utf-8"><script src="{{tag}}"></script>'
            f'<link rel="icon" href="data:,">{PAGE_ERRORS}{head}</head><body>{body}</body></html>')


def rtp_errors(console: list[str]) -> list[str]:
    return [line for line in console if line.startswith(("error: rtp", "pageerror"))]


def test_check_pattern_answers_the_shared_cases_before_and_after_the_runtime_is_ready(page, rtp_pages, rtp_console):
    script = ("<script>window.early = {loaded: rtp.loaded, answers: %s.map(function (c) "
              "{ return rtp.checkPattern(c[0], c[1]); })};</script>" % json.dumps(CASES))
    page.goto(rtp_pages.add("index.html", tag_page(head=script)))
    page.wait_for_function(TAG_READY)
    early = page.evaluate("window.early")
    ready = page.evaluate("cases => cases.map(c => rtp.checkPattern(c[0], c[1]))", CASES)
    expected = [case[2] for case in CASES]
    assert early["loaded"] is False  # the loader's copy answered
    assert early["answers"] == expected
    assert ready == expected  # the Python core answered
    non_strings = sum(1 for text, pattern, _ in CASES if not (isinstance(text, str) and isinstance(pattern, str)))
    errors = rtp_errors(rtp_console)
    assert len(errors) == 2 * non_strings
    assert all("rtp.checkPattern(str, pattern) compares two strings" in line for line in errors)
    assert page.evaluate("window.pageErrors") == []


CURRENT_SNIPPET = """<script>
(function(c,h,a,f,e,i){c[a]=c[a]||function(){(c[a].q=c[a].q||[]).push(arguments)};
 c[a].p=e;c[a].a=i;var g=h.createElement("script");g.async=true;g.type="text/javascript";
 g.src=f;var b=h.getElementsByTagName("script")[0];b.parentNode.insertBefore(g,b);
})(window,document,"rtp","{tag}","{collector}","ACME-CURRENT");
rtp('set', 'customVar1', 'gold');
rtp('set', 'customVar2', 'x'.repeat(101));
rtp('send', 'view');
rtp('get', 'campaign', true);
var customData = {value: 'MyEvent'};
rtp('send', 'event', customData);
var customData = {value: ['MyEvent', 'download - example whitepaper']};
rtp('send', 'event', customData);
rtp('send', 'redirect', 'matchedSegments.name', ['Some other segment'], 'https://www.example.com/x');
rtp('send', 'redirect', 'matchedSegments.id', {'https://www.example.com/y': ['no-such-segment']});
rtp('get', 'rcmd', 'richmedia');
rtp('set', 'rcmd', 'richmedia', {});
rtp('userContextReady', function () {});
rtp('get', 'visitor', function (answer) { window.visitorAnswer = answer; });
addEventListener('load', function () {
  window.matched = [rtp.checkPattern(location.href, '%index%'), rtp.checkPattern(document.referrer, '%google%')];
  window.viewed = rtp.userContext.viewedCampaigns;
  window.clicked = rtp.userContext.clickedCampaigns;
  rtp.userContextReady(function () {});
});
</script>"""
OLDER_SNIPPET = """<script>
(function(c,h,a,f,i,e){c[a]=c[a]||function(){(c[a].q=c[a].q||[]).push(arguments)};
 c[a].a=i;c[a].e=e;var g=h.createElement("script");g.async=true;g.type="text/javascript";
 g.src=f+'?aid='+i;var b=h.getElementsByTagName("script")[0];b.parentNode.insertBefore(g,b);
})(window,document,"rtp","//{host}/rtp-api/v1/rtp.js","ACME-OLDER");
rtp('send','view');
rtp('get','campaign',true);
rtp('get', 'visitor', function (answer) { window.visitorAnswer = answer; });
</script>"""


def test_the_reference_snippets_run_without_a_page_error(page, rtp_server, rtp_pages, rtp_console):
    """Every snippet of shared/SPEC.md, in both deploy forms; the documented calls
    rtp-tag does not offer log one error each and the page goes on."""
    head = '<meta charset="utf-8"><link rel="icon" href="data:,">' + PAGE_ERRORS
    button = ("<button id=\"download-whitepaper\"\n onclick=\"rtp('send', 'event', "
              "{value :'download - example whitepaper'})\">Download</button>")
    page.goto(rtp_pages.add("index.html", f"<!doctype html><html><head>{head}{CURRENT_SNIPPET}</head><body>{button}</body></html>"))
    page.wait_for_function("() => window.visitorAnswer !== undefined")
    page.click("#download-whitepaper")
    assert page.evaluate("window.matched") == [True, False]
    assert page.evaluate("[window.viewed, window.clicked]") == [[], []]
    assert page.evaluate("window.pageErrors") == []
    host = rtp_server.url.split("//")[1].rstrip("/")
    older = OLDER_SNIPPET.replace("{host}", host)
    page.goto(rtp_pages.add("older.html", f"<!doctype html><html><head>{head}{older}</head><body></body></html>"))
    page.wait_for_function("() => window.visitorAnswer !== undefined")
    assert page.evaluate("window.pageErrors") == []
    assert page.url.endswith("/older.html")  # neither redirect applied to this visitor

    events = rtp_server.wait_for_events(4, where=lambda event: event["type"] == "event" or event["type"] == "view")
    views = [event for event in events if event["type"] == "view"]
    assert [(view["account"], view["props"]) for view in views] == [
        ("ACME-CURRENT", {"customVar1": "gold"}), ("ACME-OLDER", {})
    ]
    assert [event["values"] for event in events if event["type"] == "event"] == [
        ["MyEvent"], ["download - example whitepaper"]
    ]
    errors = [line.split(": ", 1)[1] for line in rtp_errors(rtp_console)]
    assert sorted(errors) == sorted([
        "rtp: rtp('set', 'customVar2', value): value is 101 characters long; at most 100 are allowed",
        "rtp: content recommendations (rtp('get', 'rcmd', ...)) are not supported by rtp-tag; the call was ignored",
        "rtp: content recommendations (rtp('set', 'rcmd', ...)) are not supported by rtp-tag; the call was ignored",
        "rtp: user context callbacks (rtp('userContextReady', fn)) are not supported by rtp-tag; the call was ignored",
        "rtp: rtp.userContext.viewedCampaigns is not supported by rtp-tag; it is always empty here",
        "rtp: rtp.userContext.clickedCampaigns is not supported by rtp-tag; it is always empty here",
        "rtp: rtp.userContextReady(fn) is not supported by rtp-tag; it is always empty here",
    ])


GATE = tag_page(
    "<p>gate</p>",
    """<script>
  rtp('send', 'redirect', 'matchedSegments.name', ['WHITEPAPER DOWNLOADERS'], 'members.html');
  rtp('send', 'redirect', 'matchedSegments.id', 'wp', 'join.html', false);
  rtp('get', 'visitor', function () { window.decided = true; });
</script>""",
)
LANDING = tag_page("<p>landed</p>", "<script>window.historyLength = history.length;</script>")


def test_redirect_sends_segment_members_and_non_members_to_their_pages_by_replacing_the_page(page, rtp_server, rtp_pages):
    start = rtp_pages.add("start.html", tag_page('<a id="gate" href="gate.html">gate</a>'))
    rtp_pages.add("gate.html", GATE)
    join = rtp_pages.add("join.html", LANDING)
    members = rtp_pages.add("members.html", LANDING)
    page.goto(start)
    page.wait_for_function(TAG_READY)
    length = page.evaluate("history.length")
    page.click("#gate")
    page.wait_for_url(join)  # not in the segment: redirectMatched false applies
    assert page.evaluate("history.length") == length + 1  # the gate was replaced, not kept in history

    page.evaluate("rtp('send', 'event', {value: 'download - example whitepaper'})")
    rtp_server.wait_for_events(1, where=lambda event: event["type"] == "event")
    page.goto(start)
    page.click("#gate")
    page.wait_for_url(members)  # in the segment, named in another case


def test_redirect_never_loops_to_this_page_never_leaves_http_and_happens_once(page, rtp_pages, rtp_console):
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url.split("?")[0]))
    page_url = rtp_pages.add("self.html", tag_page("<p>self</p>", """<script>
  rtp('send', 'redirect', 'matchedSegments.id', 'x', 'javascript:alert(1)', false);
  rtp('send', 'redirect', 'matchedSegments.id', {'self.html#again': ['x'], 'first.html': ['y']}, false);
  rtp('send', 'redirect', 'matchedSegments.id', {'first.html': ['nobody']}, false);
  rtp('send', 'redirect', 'matchedSegments.id', {'second.html': ['nobody']}, false);
  rtp('get', 'visitor', function () { window.decided = true; });
</script>"""))
    first = rtp_pages.add("first.html", tag_page("<p>first</p>", "<script>rtp('get', 'visitor', function () { window.decided = true; });</script>"))
    second = rtp_pages.add("second.html", LANDING)
    page.goto(page_url)
    page.wait_for_url(first)
    page.wait_for_function(DECIDED)
    assert second not in requested
    assert page_url in requested and requested.count(page_url) == 1  # no redirect to itself
    errors = rtp_errors(rtp_console)
    assert len(errors) == 1
    assert "'javascript:alert(1)' is not an http(s) URL" in errors[0]
