"""The debug view (issue 12): ``?rtp_debug=1`` on the page or ``data-debug`` on the
script tag logs one ``console.info`` line per call, per request and answer, and per
campaign shown; without either, none."""

from __future__ import annotations

from rtp_tag.pytest_plugin import TAG_READY

CAMPAIGNS = """
[[segments]]
id = "all"
name = "Everyone who clicked"
custom_data = "A"

[[campaigns]]
name = "Hero offer"
segment = "all"
zone = "hero"
text = "Join the live demo"
"""
PAGE = """<!doctype html><html><head><meta charset="utf-8"><script src="{tag}"%s></script>
<link rel="icon" href="data:,"><script>
  rtp('send', 'event', {value: 'A'});
  rtp('send', 'event', {value: 'A'});
  rtp('send', 'event', {value: 5});
  rtp('get', 'campaign', true);
  rtp('get', 'visitor', function () { window.answered = true; });
</script></head><body><div id="hero">Our product</div></body></html>"""




def debug_lines(console: list[str]) -> list[str]:
    return [line.split(": ", 1)[1] for line in console if line.startswith("info: rtp debug:")]


def test_rtp_debug_1_logs_each_call_request_answer_and_campaign(page, rtp_server, rtp_pages, rtp_console):
    page.goto(rtp_pages.add("index.html", PAGE % "") + "?rtp_debug=1")
    page.wait_for_function("() => window.answered === true")
    lines = debug_lines(rtp_console)
    api = rtp_server.url + "api/"
    expected_starts = [
        "rtp debug: rtp('send', 'event', an object): accepted",
        "rtp debug: rtp('send', 'event', an object): counted before in this session, not sent again: 'A'",
        "rtp debug: rtp('send', 'event', an object): refused: customData.value must be a string or an array of strings",
        "rtp debug: rtp('get', 'campaign', a boolean): accepted",
        "rtp debug: rtp('get', 'visitor', a function): accepted",
        "rtp debug: POST collect: 1 event(s) ",
        "rtp debug: POST collect answered HTTP 200",
        f"rtp debug: GET {api}campaigns?visitor_id=",
        "rtp debug: GET api/campaigns answered HTTP 200: {\"campaigns\": [{\"name\": \"Hero offer\"",
        "rtp debug: campaign 'Hero offer' shown in zone #hero",
        "rtp debug: POST collect: 1 event(s) ",  # its impression, delivered before the next question is asked
        "rtp debug: POST collect answered HTTP 200",
        f"rtp debug: GET {api}visitor?visitor_id=",
        "rtp debug: GET api/visitor answered HTTP 200",
    ]
    assert len(lines) == len(expected_starts), lines
    for line, start in zip(lines, expected_starts):
        assert line.startswith(start), (line, start)


def test_data_debug_turns_it_on_and_without_it_nothing_is_logged(page, rtp_pages, rtp_console):
    page.goto(rtp_pages.add("on.html", PAGE % " data-debug"))
    page.wait_for_function("() => window.answered === true")
    assert len(debug_lines(rtp_console)) == 14
    rtp_console.clear()
    page.goto(rtp_pages.add("off.html", PAGE % ""))
    page.wait_for_function(TAG_READY)
    page.wait_for_function("() => window.answered === true")  # every call, request and answer is done
    assert debug_lines(rtp_console) == []
    assert [line for line in rtp_console if line.startswith("info:")] == []
