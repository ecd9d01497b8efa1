"""``rtp-tag serve`` replicas on one PostgreSQL database, as real processes over HTTP:
they behave as one collector; a database that refuses at start stops the server
with one line; one lost while serving makes ``/collect`` answer 503 + Retry-After
until it is back, with nothing lost.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from rtp_tag.collector.server import workers_listener
from rtp_tag.pytest_plugin import Collector

from sample_events import example_event

CAMPAIGNS = """
[[segments]]
id = "wp"
name = "Whitepaper downloaders"
custom_data = "download - example whitepaper"

[[campaigns]]
name = "Whitepaper follow-up"
segment = "wp"
zone = "hero"
text = "Join the live demo"
"""


event = partial(
    example_event, values=["download - example whitepaper"], session_id="s1", visitor_id="v1", account="acme",
    url="https://site.example/", referrer=None,
)


def get(collector: Collector, path: str) -> tuple[int, dict[str, str], Any]:
    try:
        with urllib.request.urlopen(collector.url + path, timeout=10) as response:
            return response.status, dict(response.headers), json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.load(error)


@pytest.fixture
def replicas(postgres, rtp_dist: Path, tmp_path: Path) -> Iterator[list[Collector]]:
    """Two collectors on one new PostgreSQL database, with the same campaigns file."""
    url = postgres.create_database(f"replicas_{uuid.uuid4().hex[:8]}")
    campaigns = tmp_path / "campaigns.toml"
    campaigns.write_text(CAMPAIGNS)
    started = [Collector(rtp_dist, url, ("--campaigns", str(campaigns))) for _ in range(2)]
    try:
        for collector in started:
            collector.start()
        yield started
    finally:
        for collector in started:
            collector.stop()


def test_an_event_resent_to_another_replica_is_stored_once(replicas):
    first, second = replicas
    sent = json.dumps(event())
    assert first.post(sent) == (200, {"stored": 1, "duplicates": 0})
    assert second.post(sent) == (200, {"stored": 0, "duplicates": 1})
    assert len(first.events()) == len(second.events()) == 1


def test_an_event_stored_through_one_replica_is_seen_at_once_by_the_other(replicas):
    first, second = replicas
    assert get(second, "api/visitor?visitor_id=v1&account=acme")[2] == {"matchedSegments": []}
    assert first.post(json.dumps(event()))[0] == 200
    # no wait: the other replica's very next answer already reflects the write
    assert get(second, "api/visitor?visitor_id=v1&account=acme")[2] == {
        "matchedSegments": [{"id": "wp", "name": "Whitepaper downloaders"}]
    }
    assert [c["text"] for c in get(second, "api/campaigns?visitor_id=v1&account=acme")[2]["campaigns"]] == [
        "Join the live demo"
    ]
    assert [e["visitor_id"] for e in second.events()] == ["v1"]


def serve(rtp_dist: Path, db: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rtp_tag.cli", "serve", "--port", "0", "--db", db, "--dist", str(rtp_dist)],
        capture_output=True, text=True, timeout=60,
    )


def test_a_database_that_refuses_at_start_stops_serve_with_one_line_without_the_password(postgres, rtp_dist):
    url = postgres.url("postgres", password="wrong-password")
    result = serve(rtp_dist, url)
    assert result.returncode == 2
    assert "serving on" not in result.stdout
    # The start's warnings (no read key, every origin allowed) come first; then one line on the database.
    [line] = [line for line in result.stderr.strip().splitlines() if "database" in line]
    assert line.startswith(f"rtp-tag: cannot use the database at postgresql://rtp:***@127.0.0.1:{postgres.port}/postgres")
    assert "password authentication failed" in line and "wrong-password" not in result.stderr


def test_an_unreachable_database_at_start_stops_serve_with_one_line(rtp_dist):
    from rtp_tag.pytest_plugin import free_port

    url = f"postgresql://rtp:s3cret@127.0.0.1:{free_port()}/events"
    result = serve(rtp_dist, url)
    assert result.returncode == 2
    [line] = [line for line in result.stderr.strip().splitlines() if "database" in line]  # after the start's warnings
    assert url.replace("s3cret", "***") in line and "s3cret" not in result.stderr


def test_a_database_lost_while_serving_answers_503_with_retry_after_then_recovers(postgres, rtp_dist, tmp_path):
    collector = Collector(rtp_dist, postgres.create_database(f"lost_{uuid.uuid4().hex[:8]}"))
    collector.start()
    try:
        assert collector.post(json.dumps(event()))[0] == 200
        postgres.stop("immediate")
        try:
            request = urllib.request.Request(
                collector.url + "collect", data=json.dumps(event()).encode(), method="POST",
                headers={"Content-Type": "text/plain"},
            )
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=30)
            assert refused.value.code == 503
            assert int(refused.value.headers["Retry-After"]) > 0
            assert "unavailable" in json.load(refused.value)["error"]
        finally:
            postgres.start()
        late = json.dumps(event(values=["sent after the outage"]))
        deadline = time.monotonic() + 30
        while (status := collector.post(late)[0]) != 200:  # the tag retries the same way
            assert status == 503 and time.monotonic() < deadline, f"answered {status}; not back within 30 s"
            time.sleep(0.5)
        assert [e["values"] for e in collector.events()][-1] == ["sent after the outage"]
        assert len(collector.events()) == 2
    finally:
        collector.stop()


def worker_processes(parent: int) -> int:
    """How many of ``parent``'s children are multiprocessing workers (not its resource tracker)."""
    count = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == parent and b"spawn_main" in cmdline:
            count += 1
    return count


def test_the_workers_connections_send_each_answer_at_once_without_waiting_for_an_ack():
    """Nagle's algorithm would hold an answer's body back until the client acknowledged
    its headers (40 ms with delayed ACKs: 2 workers served 360 requests/s): the workers'
    listener sets TCP_NODELAY, and the connections it accepts inherit it."""
    listener = workers_listener("127.0.0.1", 0)
    try:
        with socket.create_connection(listener.getsockname()[:2], timeout=30):
            accepted, _ = listener.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        listener.close()


def test_serve_with_two_workers_runs_two_processes_that_store_each_event_once(db, rtp_dist):
    collector = Collector(rtp_dist, db, ("--workers", "2"))
    collector.start()
    try:
        deadline = time.monotonic() + 30
        assert collector._process is not None
        while worker_processes(collector._process.pid) < 2:
            assert time.monotonic() < deadline, "two worker processes did not start within 30 s"
            time.sleep(0.2)
        sent = [event(event_id=f"w{n}", values=[f"value {n}"]) for n in range(20)]
        answers: list[tuple[int, Any]] = []

        def send(sent_event: dict[str, Any]) -> None:
            # No 503 on SQLite either: a worker waits for the other's write (the writer lock)
            answers.append(collector.post(json.dumps([sent_event, sent_event])))

        threads = [threading.Thread(target=send, args=(e,)) for e in sent]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(answers, key=str) == [(200, {"stored": 1, "duplicates": 1})] * 20
        assert sorted(e["event_id"] for e in collector.events()) == sorted(e["event_id"] for e in sent)
        assert get(collector, "api/visitor?visitor_id=v1&account=acme")[0] == 200
    finally:
        collector.stop()
