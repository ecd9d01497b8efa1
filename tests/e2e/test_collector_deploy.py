"""A collector safe on the internet (issue 9), over real HTTP to a real ``rtp-tag serve``:
a secret read path, allowed origins, per-address rate limits, erasure and retention."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from rtp_tag.pytest_plugin import Collector

from sample_events import example_event

SITE = "https://www.site.example"


event = partial(example_event, url=f"{SITE}/", referrer=None)


def call(
    collector: Collector, method: str, path: str, body: Any = None, **headers: str
) -> tuple[int, dict[str, str], Any]:
    """One request; the status, the headers (lower-case names) and the decoded JSON body (or None)."""
    data = json.dumps(body).encode() if body is not None else None
    if data is not None:
        headers.setdefault("Content-Type", "text/plain;charset=UTF-8")
    request = urllib.request.Request(
        collector.url + path.lstrip("/"), data=data, method=method,
        headers={name.replace("_", "-"): value for name, value in headers.items()},
    )
    try:
        response = urllib.request.urlopen(request, timeout=30)
    except urllib.error.HTTPError as refused:
        response = refused
    with response:
        raw = response.read()
        answer = json.loads(raw) if raw else None
        return response.status, {k.lower(): v for k, v in response.headers.items()}, answer


def bearer(key: str) -> str:
    return f"Bearer {key}"


@pytest.fixture
def collectors(rtp_dist: Path, tmp_path: Path) -> Iterator[Any]:
    """Start collectors with given ``rtp-tag serve`` arguments; all stopped after the test."""
    started: list[Collector] = []

    def start(*args: str, db: Path | None = None) -> Collector:
        collector = Collector(rtp_dist, db or tmp_path / f"events-{len(started)}.sqlite3", args)
        collector.start()
        started.append(collector)
        return collector

    yield start
    for collector in started:
        collector.stop()


# ---- the read key -------------------------------------------------------------------


READ_PATHS = ["api/events", "api/events?visitor_id=" + "v" * 32]


@pytest.mark.parametrize("path", READ_PATHS)
def test_the_read_api_answers_401_without_a_key_or_with_a_wrong_one_and_200_with_it(rtp_server, path):
    assert rtp_server.post(json.dumps(event()))[0] == 200
    for authorization in (None, bearer("wrong-key"), bearer(rtp_server.read_key + "x")):
        headers = {"Authorization": authorization} if authorization else {}
        status, answered, body = call(rtp_server, "GET", path, **headers)
        assert status == 401, authorization
        assert answered["www-authenticate"].startswith("Bearer"), authorization
        assert "error" in body and "events" not in body
    status, _, body = call(rtp_server, "GET", path, Authorization=bearer(rtp_server.read_key))
    assert status == 200
    assert len(body["events"]) == 1


def test_a_malformed_authorization_header_answers_a_json_400_saying_the_form(rtp_server):
    for header in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer two words", rtp_server.read_key):
        status, answered, body = call(rtp_server, "GET", "api/events", Authorization=header)
        assert status == 400, header
        assert "Bearer KEY" in body["error"], header
        assert "invalid_request" in answered["www-authenticate"]


def test_read_answers_carry_no_cors_header_even_for_a_page_of_another_origin(rtp_server):
    status, answered, _ = call(
        rtp_server, "GET", "api/events", Authorization=bearer(rtp_server.read_key), Origin=SITE
    )
    assert status == 200
    assert not any(name.startswith("access-control-") for name in answered)
    # Nor does a preflight open it: a script of another site cannot send the key at all.
    status, answered, body = call(
        rtp_server, "OPTIONS", "api/events", Origin=SITE,
        Access_Control_Request_Method="GET", Access_Control_Request_Headers="authorization",
    )
    assert status == 405 and "error" in body
    assert not any(name.startswith("access-control-") for name in answered)


def test_without_a_configured_key_reads_are_closed_and_serve_says_how_to_set_one(rtp_dist, tmp_path):
    command = [sys.executable, "-m", "rtp_tag.cli", "serve", "--port", "0", "--dist", str(rtp_dist),
               "--db", str(tmp_path / "db.sqlite3")]
    environment = {key: value for key, value in __import__("os").environ.items() if key != "RTP_TAG_READ_KEY"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment)
    try:
        assert process.stdout is not None
        said = []
        for line in process.stdout:
            said.append(line)
            if "serving on" in line:
                break
        url = said[-1].split("serving on ")[1].split()[0]
        hints = [line for line in said if "--read-key" in line]
        assert len(hints) == 1 and "RTP_TAG_READ_KEY" in hints[0]
        assert any("every origin" in line for line in said)
        for authorization in (None, bearer("anything")):
            request = urllib.request.Request(url + "api/events", headers={"Authorization": authorization} if authorization else {})
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=30)
            assert refused.value.code == 401
            assert "--read-key" in json.load(refused.value)["error"]
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_read_key_flag_wins_over_the_environment_variable(collectors):
    collector = collectors("--read-key", "from-the-flag")  # the plugin sets RTP_TAG_READ_KEY too
    assert call(collector, "GET", "api/events", Authorization=bearer(collector.read_key))[0] == 401
    assert call(collector, "GET", "api/events", Authorization=bearer("from-the-flag"))[0] == 200


def test_the_tags_endpoints_need_no_key(rtp_server):
    assert call(rtp_server, "POST", "collect", event(), Origin=SITE)[0] == 200
    for path in ("api/visitor?visitor_id=" + "v" * 32, "api/campaigns?visitor_id=" + "v" * 32):
        status, answered, _ = call(rtp_server, "GET", path, Origin=SITE)
        assert status == 200, path
        assert answered["access-control-allow-origin"] == "*", path


# ---- allowed origins ------------------------------------------------------------------


def test_with_allowed_origins_a_foreign_page_gets_403_and_nothing_is_stored(collectors):
    collector = collectors("--allow-origin", SITE, "--allow-origin", "https://*.shop.example")
    for origin in ("https://evil.example", "http://www.site.example", "https://shop.example", "null"):
        status, answered, body = call(collector, "POST", "collect", event(), Origin=origin)
        assert status == 403, origin
        assert "--allow-origin" in body["error"]
        # The refused page may read why (its tag logs it and drops the events), no more.
        assert answered["access-control-allow-origin"] == origin
    status, _, body = call(collector, "POST", "collect", event())  # no Origin at all
    assert status == 403 and "Origin" in body["error"]
    for path in ("api/visitor?visitor_id=v", "api/campaigns?visitor_id=v"):
        assert call(collector, "GET", path, Origin="https://evil.example")[0] == 403, path
    assert collector.events() == []


def test_with_allowed_origins_cors_names_only_the_allowed_origin(collectors):
    collector = collectors("--allow-origin", SITE, "--allow-origin", "https://*.shop.example")
    for origin in (SITE, "https://eu.shop.example", "https://a.b.shop.example"):
        status, answered, body = call(collector, "POST", "collect", event(), Origin=origin)
        assert (status, body) == (200, {"stored": 1, "duplicates": 0}), origin
        assert answered["access-control-allow-origin"] == origin
        assert "Origin" in answered["vary"]
        status, answered, _ = call(collector, "GET", "api/visitor?visitor_id=v", Origin=origin)
        assert (status, answered["access-control-allow-origin"]) == (200, origin)
    assert len(collector.events()) == 3
    # A preflight (a page posting application/json) is answered for the allowed origin only.
    status, answered, _ = call(collector, "OPTIONS", "collect", Origin=SITE, Access_Control_Request_Method="POST")
    assert (status, answered["access-control-allow-origin"]) == (204, SITE)
    assert call(collector, "OPTIONS", "collect", Origin="https://evil.example",
                Access_Control_Request_Method="POST")[0] == 403


def test_the_tags_own_files_stay_public_with_cors_star_when_origins_are_set(collectors):
    collector = collectors("--allow-origin", SITE)
    request = urllib.request.Request(collector.tag_url, headers={"Origin": "https://evil.example"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_allowed_origins_come_from_the_environment_comma_separated(rtp_dist, tmp_path, monkeypatch):
    monkeypatch.setenv("RTP_TAG_ALLOWED_ORIGINS", f"{SITE}, https://other.example")
    collector = Collector(rtp_dist, tmp_path / "db.sqlite3")
    collector.start()
    try:
        assert call(collector, "POST", "collect", event(), Origin="https://other.example")[0] == 200
        assert call(collector, "POST", "collect", event(), Origin="https://evil.example")[0] == 403
    finally:
        collector.stop()


@pytest.mark.parametrize("origin", ["www.site.example", "https://site.example/path", "https://*", "ftp://x.example"])
def test_a_malformed_allowed_origin_stops_serve_with_what_to_fix(rtp_dist, tmp_path, origin):
    result = subprocess.run(
        [sys.executable, "-m", "rtp_tag.cli", "serve", "--port", "0", "--dist", str(rtp_dist),
         "--db", str(tmp_path / "db.sqlite3"), "--allow-origin", origin],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "scheme://host" in result.stderr


# ---- rate limits ---------------------------------------------------------------------


def test_over_the_rate_limit_a_client_gets_429_with_retry_after_and_nothing_is_stored(collectors):
    collector = collectors("--rate-limit", "5", "--rate-window", "60")
    assert call(collector, "POST", "collect", [event() for _ in range(3)], Origin=SITE)[0] == 200
    assert call(collector, "POST", "collect", [event(), event()], Origin=SITE)[0] == 200  # 5: at the limit
    refused = event()
    status, answered, body = call(collector, "POST", "collect", refused, Origin=SITE)
    assert status == 429
    assert "Retry-After" in body["error"]
    assert 1 <= int(answered["retry-after"]) <= 60
    assert answered["access-control-allow-origin"] == "*"  # the tag on another origin can read the delay
    assert "retry-after" in answered["access-control-expose-headers"].lower()
    assert refused["event_id"] not in {row["event_id"] for row in collector.events()}
    assert len(collector.events()) == 5


def test_the_limit_counts_per_client_address_from_x_forwarded_for_only_with_trust_proxy(collectors):
    trusting = collectors("--rate-limit", "2", "--trust-proxy")
    for address in ("203.0.113.1", "203.0.113.2"):
        # The client may prepend anything; the last entry is the one the proxy appended.
        headers = {"X-Forwarded-For": f"198.51.100.9, {address}"}
        assert call(trusting, "POST", "collect", [event(), event()], **headers)[0] == 200, address
        assert call(trusting, "POST", "collect", event(), **headers)[0] == 429, address
    direct = collectors("--rate-limit", "2")
    assert call(direct, "POST", "collect", [event(), event()], X_Forwarded_For="203.0.113.1")[0] == 200
    assert call(direct, "POST", "collect", event(), X_Forwarded_For="203.0.113.2")[0] == 429


def test_a_rate_limit_of_0_turns_it_off(collectors):
    collector = collectors("--rate-limit", "0")
    for _ in range(3):
        assert call(collector, "POST", "collect", [event() for _ in range(200)])[0] == 200
    assert len(collector.events()) == 600


# ---- erasure and export ------------------------------------------------------------


def test_deleting_a_visitor_erases_their_events_and_segments_and_says_how_many(rtp_dist, tmp_path, collectors):
    campaigns = tmp_path / "campaigns.toml"
    campaigns.write_text(
        '[[segments]]\nid = "wp"\nname = "Whitepaper downloaders"\ncustom_data_contains = "whitepaper"\n'
    )
    collector = collectors("--campaigns", str(campaigns))
    me, them = "me" * 8, "them" * 4
    sent = [event(visitor_id=me, values=["whitepaper"]), event(visitor_id=me), event(visitor_id=them)]
    assert collector.post(json.dumps(sent))[0] == 200
    key = bearer(collector.read_key)
    assert call(collector, "GET", f"api/visitor?visitor_id={me}&account=ACME-1")[2]["matchedSegments"] != []

    assert call(collector, "DELETE", f"api/visitors/{me}")[0] == 401
    assert call(collector, "DELETE", f"api/visitors/{me}", Authorization=bearer("wrong"))[0] == 401
    status, answered, body = call(collector, "DELETE", f"api/visitors/{me}", Authorization=key)
    assert (status, body) == (200, {"deleted": 2})
    assert not any(name.startswith("access-control-") for name in answered)
    assert call(collector, "DELETE", f"api/visitors/{me}", Authorization=key)[2] == {"deleted": 0}

    assert collector.get(f"api/events?visitor_id={me}")["events"] == []
    assert call(collector, "GET", f"api/visitor?visitor_id={me}&account=ACME-1")[2] == {"matchedSegments": []}
    assert [row["visitor_id"] for row in collector.events()] == [them]


def test_deleting_a_visitor_without_an_id_answers_a_json_400(rtp_server):
    status, _, body = call(rtp_server, "DELETE", "api/visitors/", Authorization=bearer(rtp_server.read_key))
    assert status == 400 and "visitor id" in body["error"]


def test_the_read_api_refuses_other_methods_with_a_json_405(rtp_server):
    status, answered, body = call(rtp_server, "POST", "api/events", {}, Authorization=bearer(rtp_server.read_key))
    assert status == 405 and "GET" in body["error"]


# ---- retention ------------------------------------------------------------------------


def test_retain_days_deletes_events_received_before_it_at_start(collectors, tmp_path):
    db = tmp_path / "kept.sqlite3"
    collector = collectors(db=db)
    old, recent = event(values=["old"]), event(values=["recent"])
    assert collector.post(json.dumps([old, recent]))[0] == 200
    collector.stop()
    with sqlite3.connect(db) as connection:  # as if ``old`` had arrived 31 days ago
        connection.execute(
            "UPDATE events SET received_at = received_at - 31 * 86400 WHERE event_id = ?", (old["event_id"],)
        )
    connection.close()
    later = collectors("--retain-days", "30", db=db)
    assert [row["values"] for row in later.events()] == [["recent"]]


# ---- earlier builds' files --------------------------------------------------------------


def test_an_earlier_builds_runtime_kept_in_rt_key_is_served_immutable_and_an_unknown_key_is_404(
    rtp_dist, tmp_path, collectors
):
    dist = tmp_path / "dist"
    dist.mkdir()
    for name in ("rtp.js", "manifest.json"):
        (dist / name).write_bytes((rtp_dist / name).read_bytes())
    (dist / "rt-0123456789ab").mkdir()
    (dist / "rt-0123456789ab" / "pyodide.mjs").write_text("// an earlier build's runtime\n")
    collector = Collector(dist, tmp_path / "db.sqlite3")
    collector.start()
    try:
        with urllib.request.urlopen(collector.url + "rt-0123456789ab/pyodide.mjs", timeout=30) as response:
            assert response.read() == b"// an earlier build's runtime\n"
            assert "immutable" in response.headers["Cache-Control"]
        for missing in ("rt-ffffffffffff/pyodide.mjs", "rt-0123456789ab/not-shipped.js"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(collector.url + missing, timeout=30)
            assert refused.value.code == 404, missing
    finally:
        collector.stop()
