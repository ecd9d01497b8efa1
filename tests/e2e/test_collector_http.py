"""The collector over real HTTP (issue 2): a real ``rtp-tag serve`` process, no browser.

Bad bodies are refused with a JSON error and leave the store untouched, a resent
``event_id`` is stored once, the read API has its documented shape, and the built
tag is served with the types and CORS headers a page on another origin needs.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import brotli
import pytest

from rtp_tag.build import package_tag
from rtp_tag.layout import MANIFEST, runtime_dir, runtime_key
from rtp_tag.protocol import (
    MAX_BODY_BYTES,
    MAX_CUSTOM_VAR_LENGTH,
    MAX_ID_LENGTH,
    MAX_VALUE_LENGTH,
    MAX_VALUES_PER_CALL,
)
from rtp_tag.pytest_plugin import Collector

from sample_events import example_event as event

OTHER_ORIGIN = "http://site.example"
on_both_stores = pytest.mark.parametrize("rtp_server_db", ["sqlite", "postgresql"], indirect=True)
"""For the tests of what is stored and listed: they run on SQLite and on PostgreSQL."""


def fetch(collector: Collector, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    """GET ``path``; return the status, the headers (lower-case names) and the body."""
    request = urllib.request.Request(collector.url + path.lstrip("/"), headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()


def manifest(collector: Collector) -> dict[str, Any]:
    return json.loads((collector.dist / "manifest.json").read_text())


# ---- storing ---------------------------------------------------------------------


@on_both_stores
def test_a_valid_event_is_stored_and_listed_with_the_documented_fields(rtp_server):
    sent = event(values=["MyEvent", "download - example whitepaper"])
    status, answer = rtp_server.post(json.dumps(sent))
    assert (status, answer) == (200, {"stored": 1, "duplicates": 0})

    listing = rtp_server.get("api/events")
    assert list(listing) == ["events", "next"]
    assert listing["next"] is None
    [row] = listing["events"]
    assert isinstance(row["seq"], int)
    for field in ("type", "values", "session_id", "visitor_id", "event_id", "account", "url"):
        assert row[field] == sent[field], field
    assert isinstance(row["received_at"], (int, float))
    assert abs(row["received_at"] - time.time()) < 300


@on_both_stores
def test_an_array_of_events_is_stored_in_order_newest_last(rtp_server):
    first, second = event(values=["first"]), event(type="view", values=[], url="https://site.example/2")
    status, answer = rtp_server.post(json.dumps([first, second]))
    assert (status, answer) == (200, {"stored": 2, "duplicates": 0})
    third = event(values=["third"])
    assert rtp_server.post(json.dumps(third))[0] == 200

    rows = rtp_server.events()
    assert [row["event_id"] for row in rows] == [first["event_id"], second["event_id"], third["event_id"]]
    assert rows[1]["type"] == "view" and rows[1]["values"] == []  # views carry no values


@on_both_stores
def test_a_repeated_event_id_is_stored_once(rtp_server):
    sent = event()
    assert rtp_server.post(json.dumps(sent)) == (200, {"stored": 1, "duplicates": 0})
    assert rtp_server.post(json.dumps(sent)) == (200, {"stored": 0, "duplicates": 1})
    # The same id twice in one body, next to a new event: only the new one is stored.
    fresh = event(values=["fresh"])
    assert rtp_server.post(json.dumps([sent, fresh, sent])) == (200, {"stored": 1, "duplicates": 2})
    assert [row["event_id"] for row in rtp_server.events()] == [sent["event_id"], fresh["event_id"]]


@on_both_stores
def test_events_can_be_listed_for_one_visitor(rtp_server):
    mine, theirs = event(visitor_id="me" * 8), event(visitor_id="them" * 4)
    assert rtp_server.post(json.dumps([mine, theirs]))[0] == 200
    assert [row["event_id"] for row in rtp_server.events(visitor_id="me" * 8)] == [mine["event_id"]]


def test_a_views_custom_vars_are_stored_in_props_and_listed_as_an_object(rtp_server):
    view = event(type="view", values=[], props={"customVar1": "gold", "customVar5": "x" * MAX_CUSTOM_VAR_LENGTH})
    plain = event(values=["plain"])
    assert rtp_server.post(json.dumps([view, plain]))[0] == 200
    listed_view, listed_plain = rtp_server.events()
    assert listed_view["props"] == {"customVar1": "gold", "customVar5": "x" * MAX_CUSTOM_VAR_LENGTH}
    assert listed_plain["props"] == {}


def test_a_database_made_before_props_gains_the_column_and_keeps_its_events(rtp_dist, tmp_path):
    import sqlite3

    old = sqlite3.connect(tmp_path / "old.sqlite3")
    old.executescript(
        """CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL, "values" TEXT NOT NULL, session_id TEXT NOT NULL, visitor_id TEXT NOT NULL,
        account TEXT NOT NULL, url TEXT NOT NULL, referrer TEXT NOT NULL, ts INTEGER NOT NULL,
        dropped INTEGER NOT NULL DEFAULT 0, received_at REAL NOT NULL);
        INSERT INTO events VALUES (1, 'old-1', 'view', '[]', 's', 'v', '', 'https://site.example/', '', 1, 0, 1.0);"""
    )
    old.commit()
    old.close()
    collector = Collector(rtp_dist, tmp_path / "old.sqlite3")
    collector.start()
    try:
        assert collector.post(json.dumps(event(type="view", values=[], props={"customVar2": "new"})))[0] == 200
        assert [row["props"] for row in collector.events()] == [{}, {"customVar2": "new"}]
    finally:
        collector.stop()


# ---- refusing --------------------------------------------------------------------

BAD_BODIES: dict[str, bytes] = {
    "empty body": b"",
    "not JSON": b"rtp('send', 'event', 'x')",
    "not UTF-8": b'{"type": "event", "values": ["\xff"]}',
    "a JSON number": b"42",
    "a JSON string": b'"MyEvent"',
    "null": b"null",
    "an empty array": b"[]",
    "an array holding a number": b"[1]",
    "an event missing its event_id": json.dumps(event(event_id=None)).encode(),
    "an event missing its values": json.dumps(event(values=None)).encode(),
    "an unknown type": json.dumps(event(type="purchase")).encode(),
    f"more than {MAX_VALUES_PER_CALL} values": json.dumps(
        event(values=[f"v{i}" for i in range(MAX_VALUES_PER_CALL + 1)])
    ).encode(),
    "no values": json.dumps(event(values=[])).encode(),
    "values as a bare string": json.dumps(event(values="MyEvent")).encode(),
    "an empty value": json.dumps(event(values=[""])).encode(),
    "a non-string value": json.dumps(event(values=["ok", 5])).encode(),
    "a nested object value": json.dumps(event(values=[{"value": "x"}])).encode(),
    "a value too long": json.dumps(event(values=["x" * (MAX_VALUE_LENGTH + 1)])).encode(),
    "a view with values": json.dumps(event(type="view", values=["x"])).encode(),
    "an empty session_id": json.dumps(event(session_id="")).encode(),
    "an over-long visitor_id": json.dumps(event(visitor_id="v" * (MAX_ID_LENGTH + 1))).encode(),
    "a numeric url": json.dumps(event(url=5)).encode(),
    "a negative ts": json.dumps(event(ts=-1)).encode(),
    "a string ts": json.dumps(event(ts="now")).encode(),
    "a NaN ts": json.dumps(event(ts=float("nan"))).encode(),
    "an infinite ts": json.dumps(event(ts=float("inf"))).encode(),
    "a ts too large to store": json.dumps(event(ts=10**30)).encode(),
    "a dropped count too large to store": json.dumps(event(dropped=10**30)).encode(),
    "JSON nested too deeply": b"[" * 30_000 + b"]" * 30_000,
    "a lone surrogate escape in a value": json.dumps(event(values=["\ud800"])).encode(),
    "a lone surrogate escape in the url": json.dumps(event(url="https://site.example/\udfff")).encode(),
    "a good event beside a bad one": json.dumps([event(values=["good"]), event(values=[""])]).encode(),
    "props that are not an object": json.dumps(event(type="view", values=[], props="gold")).encode(),
    "an unknown custom var": json.dumps(event(type="view", values=[], props={"customVar6": "x"})).encode(),
    "a custom var too long": json.dumps(
        event(type="view", values=[], props={"customVar1": "x" * (MAX_CUSTOM_VAR_LENGTH + 1)})
    ).encode(),
    "custom vars on a custom data event": json.dumps(event(props={"customVar1": "x"})).encode(),
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_a_bad_body_is_refused_with_a_json_400_and_nothing_is_stored(rtp_server, body):
    status, answer = rtp_server.post(body)
    assert status == 400
    assert set(answer) == {"error"} and isinstance(answer["error"], str) and answer["error"]
    assert rtp_server.events() == []


@on_both_stores
def test_after_refusing_bad_bodies_the_collector_still_stores_and_lists(rtp_server):
    for body in BAD_BODIES.values():
        rtp_server.post(body)
    sent = event()
    assert rtp_server.post(json.dumps(sent)) == (200, {"stored": 1, "duplicates": 0})
    assert [row["event_id"] for row in rtp_server.events()] == [sent["event_id"]]


def test_a_body_over_64_kib_is_refused_with_a_json_413_and_nothing_is_stored(rtp_server):
    # Valid events, only too many of them: the size alone is the reason.
    events = [event(values=["x" * MAX_VALUE_LENGTH]) for _ in range(MAX_BODY_BYTES // MAX_VALUE_LENGTH)]
    body = json.dumps(events).encode()
    assert len(body) > MAX_BODY_BYTES
    status, answer = rtp_server.post(body)
    assert status == 413
    assert set(answer) == {"error"} and answer["error"]
    assert rtp_server.events() == []


def test_a_chunked_body_over_64_kib_is_refused_while_streaming(rtp_server):
    """Without a Content-Length the limit is enforced on the bytes as they arrive."""
    chunk = json.dumps(event()).encode() + b","
    chunks = [b"["] + [chunk] * (MAX_BODY_BYTES // len(chunk) + 1) + [json.dumps(event()).encode() + b"]"]
    connection = http.client.HTTPConnection("127.0.0.1", rtp_server.port, timeout=30)
    try:
        connection.request(
            "POST", "/collect", body=iter(chunks), encode_chunked=True,
            headers={"Content-Type": "text/plain;charset=UTF-8", "Transfer-Encoding": "chunked"},
        )
        response = connection.getresponse()
        status, answer = response.status, json.loads(response.read())
    finally:
        connection.close()
    assert status == 413
    assert set(answer) == {"error"} and answer["error"]
    assert rtp_server.events() == []


def test_a_body_of_exactly_64_kib_is_accepted(rtp_server):
    sent = event()
    body = json.dumps(sent)
    body += " " * (MAX_BODY_BYTES - len(body))  # JSON allows trailing whitespace
    assert len(body.encode()) == MAX_BODY_BYTES
    assert rtp_server.post(body) == (200, {"stored": 1, "duplicates": 0})


def get_status(collector: Collector, path: str) -> tuple[int, Any]:
    """GET ``path``; return the status and the decoded JSON answer, error or not."""
    request = urllib.request.Request(
        collector.url + path.lstrip("/"), headers={"Authorization": f"Bearer {collector.read_key}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as problem:
        return problem.code, json.load(problem)


@on_both_stores
def test_events_are_listed_page_by_page_oldest_first_with_a_next_cursor(rtp_server):
    sent = [event(values=[f"e{i}"]) for i in range(5)]
    assert rtp_server.post(json.dumps(sent))[0] == 200
    first = rtp_server.get("api/events?limit=2")
    assert [row["values"] for row in first["events"]] == [["e0"], ["e1"]]
    assert first["next"] == first["events"][-1]["seq"]
    second = rtp_server.get(f"api/events?limit=2&after={first['next']}")
    assert [row["values"] for row in second["events"]] == [["e2"], ["e3"]]
    last = rtp_server.get(f"api/events?limit=2&after={second['next']}")
    assert [row["values"] for row in last["events"]] == [["e4"]]
    assert last["next"] is None
    # A page that ends exactly at the last event says there is no more.
    assert rtp_server.get("api/events?limit=5")["next"] is None
    assert [row["values"] for row in rtp_server.events()] == [[f"e{i}"] for i in range(5)]


@on_both_stores
def test_one_visitors_events_are_paged_too(rtp_server):
    mine = [event(visitor_id="me" * 8, values=[f"m{i}"]) for i in range(3)]
    assert rtp_server.post(json.dumps([mine[0], event(visitor_id="them" * 4), *mine[1:]]))[0] == 200
    first = rtp_server.get(f"api/events?visitor_id={'me' * 8}&limit=2")
    rest = rtp_server.get(f"api/events?visitor_id={'me' * 8}&limit=2&after={first['next']}")
    assert [row["values"] for row in first["events"] + rest["events"]] == [["m0"], ["m1"], ["m2"]]
    assert rest["next"] is None


@pytest.mark.parametrize(
    "query",
    ["limit=abc", "limit=-1", "limit=0", "limit=10001", "limit=1.5", "after=abc", "after=-3", "after=999999",
     "visitor_id="],
)
def test_a_bad_page_request_answers_a_json_400_that_says_what_to_fix(rtp_server, query):
    assert rtp_server.post(json.dumps(event()))[0] == 200
    status, answer = get_status(rtp_server, f"api/events?{query}")
    assert status == 400
    name = query.split("=")[0]
    assert name in answer["error"]


def test_unknown_api_paths_answer_a_json_404(rtp_server):
    request = urllib.request.Request(rtp_server.url + "api/nothing-here")
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=30)
    assert raised.value.code == 404
    assert "error" in json.load(raised.value)


# ---- CORS for pages of other origins -----------------------------------------------


def test_a_cross_origin_text_plain_post_is_answered_with_allow_origin(rtp_server):
    """A ``text/plain`` POST is a "simple" request: the browser sends no preflight,
    and reads the answer only if it allows the page's origin."""
    request = urllib.request.Request(
        rtp_server.url + "collect", data=json.dumps(event()).encode(), method="POST",
        headers={"Content-Type": "text/plain;charset=UTF-8", "Origin": OTHER_ORIGIN},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        assert response.headers["Access-Control-Allow-Origin"] in ("*", OTHER_ORIGIN)
    assert len(rtp_server.events()) == 1


# ---- assets ----------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["/", "/rtp-api/v1/"], ids=["root", "legacy alias"])
def test_the_tag_and_runtime_are_served_with_their_types_and_allow_origin(rtp_server, prefix):
    expected = {
        "rtp.js": "text/javascript",
        "pyodide.mjs": "text/javascript",
        "pyodide.asm.mjs": "text/javascript",
        "pyodide.asm.wasm": "application/wasm",
    }
    for name, kind in expected.items():
        status, headers, body = fetch(rtp_server, prefix + name, Origin=OTHER_ORIGIN)
        assert status == 200, name
        assert headers["content-type"].split(";")[0].strip() == kind, name
        assert headers.get("access-control-allow-origin") in ("*", OTHER_ORIGIN), name
        assert body, name


def test_the_legacy_path_serves_the_same_tag_as_the_root(rtp_server):
    assert fetch(rtp_server, "/rtp-api/v1/rtp.js")[2] == fetch(rtp_server, "/rtp.js")[2]
    assert fetch(rtp_server, "/rtp-api/v1/rtp.js?aid=ACME-1")[2] == fetch(rtp_server, "/rtp.js")[2]


def test_every_asset_in_the_manifest_is_served_whole_with_allow_origin(rtp_server):
    listed = manifest(rtp_server)
    assert "rtp.js" in listed
    for name in listed:
        status, headers, body = fetch(rtp_server, name, Origin=OTHER_ORIGIN)
        assert status == 200, name
        assert headers.get("access-control-allow-origin") in ("*", OTHER_ORIGIN), name
        assert len(body) == (rtp_server.dist / name).stat().st_size, name


def test_a_tag_with_one_copy_of_each_asset_as_the_wheel_carries_it_is_served_to_every_client(rtp_dist, tmp_path):
    """The wheel keeps one precompressed copy of each asset and no plain one: clients that
    accept its encoding get it as it is, others get it decoded, byte for byte the built asset."""
    lean = tmp_path / "dist"
    package_tag(rtp_dist, lean)
    listed = json.loads((rtp_dist / MANIFEST).read_text())
    for name in listed:
        assert [(lean / (name + suffix)).is_file() for suffix in ("", ".gz", ".br")] == [False, False, True], name
    collector = Collector(lean, tmp_path / "events.sqlite3")
    collector.start()
    try:
        runtime = runtime_dir(runtime_key(listed)) + "pyodide.asm.wasm"
        for path, built in (("rtp.js", "rtp.js"), (runtime, "pyodide.asm.wasm")):
            for accepted, coding, decode in (
                ("gzip, deflate, br", "br", brotli.decompress),
                ("gzip, deflate", None, bytes),
                ("identity", None, bytes),
            ):
                status, headers, body = fetch(collector, path, **{"Accept-Encoding": accepted})
                assert (status, headers.get("content-encoding")) == (200, coding), (path, accepted)
                assert decode(body) == (rtp_dist / built).read_bytes(), (path, accepted)
        _, headers, _ = fetch(collector, "rtp.js", **{"Accept-Encoding": "gzip"})
        with pytest.raises(urllib.error.HTTPError) as unchanged:
            fetch(collector, "rtp.js", **{"Accept-Encoding": "gzip", "If-None-Match": headers["etag"]})
        assert unchanged.value.code == 304
    finally:
        collector.stop()


def test_the_demo_site_is_served_with_the_reference_download_button(rtp_server):
    status, headers, body = fetch(rtp_server, "/demo/")
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    page = body.decode()
    assert "rtp.js" in page
    assert "onclick=\"rtp('send', 'event', {value :'download - example whitepaper'})\"" in page


def test_serve_without_a_built_tag_says_how_to_build(tmp_path: Path):
    empty = tmp_path / "dist"
    empty.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "rtp_tag.cli", "serve", "--port", "0", "--dist", str(empty),
         "--db", str(tmp_path / "db.sqlite3")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert "build" in (result.stdout + result.stderr)


# ---- POST /forget (issue 11) ----------------------------------------------------------


def test_forget_deletes_one_visitors_events_and_answers_how_many(rtp_server):
    stored = [
        event(values=["a"], event_id="e1", visitor_id="forget-me"),
        event(values=["b"], event_id="e2", visitor_id="forget-me"),
        event(values=["c"], event_id="e3", visitor_id="keep-me"),
    ]
    assert rtp_server.post(json.dumps(stored))[0] == 200
    assert rtp_server.post('{"visitor_id": "forget-me"}', "forget") == (200, {"forgotten": 2})
    assert [stored["event_id"] for stored in rtp_server.events()] == ["e3"]
    assert rtp_server.post('{"visitor_id": "forget-me"}', "forget") == (200, {"forgotten": 0})


def test_forget_from_another_origin_is_a_simple_request_answered_with_allow_origin(rtp_server):
    rtp_server.post(json.dumps(event(visitor_id="forget-me")))
    request = urllib.request.Request(
        rtp_server.url + "forget", data=b'{"visitor_id": "forget-me"}', method="POST",
        headers={"Content-Type": "text/plain;charset=UTF-8", "Origin": OTHER_ORIGIN},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        assert response.headers["Access-Control-Allow-Origin"] in ("*", OTHER_ORIGIN)
    assert rtp_server.events() == []


@pytest.mark.parametrize(
    "body",
    ["", "not json", "[]", '"forget-me"', "{}", '{"visitor_id": ""}', '{"visitor_id": 5}',
     '{"visitor_id": "%s"}' % ("v" * (MAX_ID_LENGTH + 1)), b"\xff\xfe", "[" * 100_000],
    ids=["empty", "not-json", "array", "string", "no-id", "empty-id", "number-id", "long-id", "not-utf8", "too-large"],
)
def test_a_bad_forget_body_is_a_json_4xx_naming_the_shape_and_deletes_nothing(rtp_server, body):
    rtp_server.post(json.dumps(event()))
    status, answer = rtp_server.post(body, "forget")
    assert status in (400, 413) and "visitor_id" in answer["error"]
    assert len(rtp_server.events()) == 1
