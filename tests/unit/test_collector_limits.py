"""The collector's rate limiter and origin rules, without a server (server only: not run
under Pyodide)."""

from __future__ import annotations

import asyncio

import pytest

from rtp_tag.collector.access import Access, AccessConfigError
from rtp_tag.collector.limits import EventRateLimiter, retry_after
from rtp_tag.collector.retention import keep_purging

from test_delivery import run


class Clock:
    def __init__(self, now: float = 1_000_040.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_events_not_requests_are_counted_per_address_per_window():
    clock = Clock()  # 20 s into a minute
    limiter = EventRateLimiter(10, 60, clock)
    assert limiter.admit("a", 6) is None
    assert limiter.admit("a", 4) is None
    assert limiter.admit("a", 1) == pytest.approx(40)  # until the next window opens
    assert limiter.admit("b", 10) is None  # another address has its own count
    clock.now += 40
    assert limiter.admit("a", 10) is None


def test_a_refused_request_counts_nothing():
    limiter = EventRateLimiter(10, 60, Clock())
    assert limiter.admit("a", 8) is None
    assert limiter.admit("a", 5) is not None
    assert limiter.admit("a", 2) is None


def test_a_request_larger_than_the_limit_passes_alone_in_a_fresh_window_and_uses_it_up():
    clock = Clock()
    limiter = EventRateLimiter(5, 60, clock)
    assert limiter.admit("a", 20) is None  # the tag's batch must fit somewhere, or it is lost
    assert limiter.admit("a", 1) is not None
    assert limiter.admit("b", 1) is None
    assert limiter.admit("b", 20) is not None  # not once the window has counted something


def test_a_limit_of_0_admits_everything():
    limiter = EventRateLimiter(0, 60, Clock())
    assert all(limiter.admit("a", 1000) is None for _ in range(100))


def test_retry_after_is_whole_seconds_rounded_up_and_at_least_one():
    assert [retry_after(s) for s in (0.0, 0.2, 1.0, 1.01, 59.5)] == ["1", "1", "1", "2", "60"]


@pytest.mark.parametrize(
    ("entry", "origin", "allowed"),
    [
        ("https://www.example.com", "https://www.example.com", True),
        ("https://www.example.com", "https://WWW.example.com", True),
        ("https://www.example.com", "http://www.example.com", False),
        ("https://www.example.com", "https://www.example.com:8443", False),
        ("https://*.example.com", "https://a.example.com", True),
        ("https://*.example.com", "https://a.b.example.com", True),
        ("https://*.example.com", "https://example.com", False),
        ("https://*.example.com", "https://evil-example.com", False),
        ("https://*.example.com", "https://example.com.evil.net", False),
        ("http://localhost:8000", "http://localhost:8000", True),
        ("https://www.example.com", "null", False),
        ("https://www.example.com", None, False),
    ],
)
def test_allowed_origins_are_exact_or_any_subdomain_of_a_wildcard(entry, origin, allowed):
    assert Access(allowed_origins=(entry,)).origin_allowed(origin) is allowed


def test_with_no_allowed_origins_every_origin_is_allowed():
    assert Access().origin_allowed("https://anything.example")
    assert Access().origin_allowed(None)


@pytest.mark.parametrize("entry", ["example.com", "https://example.com/", "https://ex ample.com", "https://*"])
def test_an_allowed_origin_that_is_not_an_origin_is_refused_with_the_form(entry):
    with pytest.raises(AccessConfigError, match="scheme://host"):
        Access(allowed_origins=(entry,))


def test_read_keys_match_exactly():
    access = Access(read_keys=("k1-secret", "k2-secret"))
    assert access.key_matches("k1-secret") and access.key_matches("k2-secret")
    assert not access.key_matches("k1-secre") and not access.key_matches("k1-secretx")
    assert not access.key_matches("ké")  # non-ASCII is compared as bytes, not an error
    assert not Access().key_matches("")


class CountingStore:
    def __init__(self, fail_first: bool = False) -> None:
        self.calls: list[float] = []
        self.fail_first = fail_first

    def delete_received_before(self, cutoff: float) -> int:
        self.calls.append(cutoff)
        if self.fail_first and len(self.calls) == 1:
            raise RuntimeError("database is locked")
        return 3


def test_retention_keeps_purging_while_serving_and_survives_a_failed_purge():
    store = CountingStore(fail_first=True)
    said: list[str] = []

    async def serve_a_while() -> None:
        task = asyncio.create_task(keep_purging(store, 30, said.append, every=0.01))  # type: ignore[arg-type]
        while len(store.calls) < 3:
            await asyncio.sleep(0.01)
        task.cancel()

    run(lambda: asyncio.wait_for(serve_a_while(), 30))  # a loop of its own, also beside e2e tests
    assert "failed" in said[0] and "database is locked" in said[0]
    assert any("deleted 3 event(s) received more than 30 day(s) ago" in line for line in said[1:])
