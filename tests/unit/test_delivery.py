import asyncio
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate

import pytest

from rtp_tag.delivery import (
    BACKOFF_CAP,
    RETRY_AFTER_CAP,
    RETRY_AFTER_FLOOR,
    Courier,
    Reply,
    backoff_delay,
    is_retryable,
    parse_retry_after,
)
from rtp_tag.outbox import LEASE_SECONDS, Outbox
from rtp_tag.storage import MemoryStorage

T0 = 1_700_000_000.0


class World:
    """A fake clock, timer queue and collector around one Courier.

    ``answer(events)`` decides each request's reply: a Reply, or an exception the
    network raises. Timers fire in due order only when the test advances time.
    """

    def __init__(self, answer=lambda events: Reply(200), storage=None, owner="tab", rng=lambda: 1.0, debug=None):
        self.now = T0
        self.answer = answer
        self.timers = []
        self.requests = []  # (time, events)
        self.in_flight = 0
        self.most_in_flight = 0
        self.reports = []
        self.refusals = []  # exceptions post() raises at once, before any request starts
        self.outbox = Outbox(storage if storage is not None else MemoryStorage(), owner)
        self.courier = Courier(
            self.outbox,
            self.post,
            clock=lambda: self.now,
            schedule=self.schedule,
            report=self.reports.append,
            rng=rng,
            debug=debug,
        )

    def post(self, body):
        if self.refusals:
            raise self.refusals.pop(0)
        events = json.loads(body)
        self.requests.append((self.now, events))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        return self._respond(events)

    async def _respond(self, events):
        await asyncio.sleep(0)
        self.in_flight -= 1
        reply = self.answer(events)
        if isinstance(reply, Exception):
            raise reply
        return reply

    def schedule(self, delay, callback):
        assert delay >= 0
        self.timers.append((self.now + delay, len(self.timers), callback))

    def send(self, *event_ids):
        for event_id in event_ids:
            self.outbox.add(event(event_id), self.now)
        self.courier.flush()

    async def settle(self):
        for _ in range(20):
            await asyncio.sleep(0)

    async def advance(self, seconds):
        """Let time pass, firing due timers in order and settling after each."""
        end = self.now + seconds
        await self.settle()
        for _ in range(10_000):
            due = sorted(timer for timer in self.timers if timer[0] <= end)
            if not due:
                break
            self.timers.remove(due[0])
            self.now = max(self.now, due[0][0])
            due[0][2]()
            await self.settle()
        else:
            raise AssertionError("timers keep firing without time passing")
        self.now = end

    def sent_ids(self):
        return [[item["event_id"] for item in events] for _, events in self.requests]

    def request_times(self):
        return [time - T0 for time, _ in self.requests]


def event(event_id):
    return {
        "type": "event",
        "values": [f"value-{event_id}"],
        "event_id": event_id,
        "session_id": "s1",
        "visitor_id": "v1",
        "account": "acme",
        "url": "https://site.example/page",
        "referrer": "",
        "ts": int(T0 * 1000),
    }


def replies(*sequence):
    """Answer requests with these replies in turn, then 200."""
    queue = list(sequence)
    return lambda events: queue.pop(0) if queue else Reply(200)


def run(scenario):
    """Run a scenario on a loop of its own. When e2e tests share the process,
    Playwright's sync API keeps a loop running in this thread, so the scenario gets a
    thread of its own (Pyodide, which has no threads, never has that case)."""
    if sys.platform == "emscripten" or asyncio._get_running_loop() is None:
        asyncio.run(scenario())
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, scenario()).result()


def test_a_2xx_acknowledges_the_event_and_nothing_more_is_sent():
    async def scenario():
        world = World(replies(Reply(204)))
        world.send("e1")
        await world.advance(600)
        assert world.sent_ids() == [["e1"]]
        assert len(world.outbox) == 0

    run(scenario)


def test_the_request_starts_synchronously_inside_the_call():
    async def scenario():
        world = World()
        world.send("e1")
        assert world.sent_ids() == [["e1"]]  # before any await: a navigating click still sends
        await world.settle()

    run(scenario)


def test_a_5xx_is_retried_with_doubling_backoff_capped_at_a_minute():
    async def scenario():
        world = World(replies(*[Reply(500)] * 9), rng=lambda: 1.0)
        world.send("e1")
        await world.advance(1000)
        times = world.request_times()
        waits = [round(later - earlier, 6) for earlier, later in zip(times, times[1:])]
        assert waits == [1, 2, 4, 8, 16, 32, 60, 60, 60]
        assert len(world.outbox) == 0

    run(scenario)


def test_backoff_has_jitter_between_half_and_all_of_the_step():
    assert backoff_delay(0, rng=lambda: 0.0) == 0.5
    assert backoff_delay(0, rng=lambda: 1.0) == 1.0
    assert backoff_delay(3, rng=lambda: 0.0) == 4.0
    assert backoff_delay(3, rng=lambda: 0.5) == 6.0
    assert backoff_delay(3, rng=lambda: 1.0) == 8.0


def test_backoff_never_exceeds_the_cap_even_after_many_failures():
    assert BACKOFF_CAP == 60.0
    for attempts in (6, 7, 20, 1000):
        assert backoff_delay(attempts, rng=lambda: 1.0) == BACKOFF_CAP


def test_the_courier_applies_its_jitter_to_the_retry():
    async def scenario():
        world = World(replies(Reply(502)), rng=lambda: 0.0)
        world.send("e1")
        await world.advance(10)
        assert world.request_times() == [0.0, 0.5]

    run(scenario)


def test_a_network_error_is_retried():
    async def scenario():
        world = World(replies(OSError("Failed to fetch"), Reply(0, error="offline")))
        world.send("e1")
        await world.advance(30)
        assert world.sent_ids() == [["e1"], ["e1"], ["e1"]]
        assert len(world.outbox) == 0
        assert world.reports == []

    run(scenario)


def test_a_transport_that_throws_at_once_counts_as_a_network_error():
    async def scenario():
        world = World()
        world.refusals.append(RuntimeError("fetch is not available"))
        world.send("e1")
        await world.advance(30)
        assert world.refusals == []
        assert world.sent_ids() == [["e1"]]
        assert world.request_times() == [1.0]
        assert len(world.outbox) == 0

    run(scenario)


def test_retry_after_on_429_is_honoured_exactly():
    async def scenario():
        world = World(replies(Reply(429, retry_after=7.0)))
        world.send("e1")
        await world.advance(6.999)
        assert world.request_times() == [0.0]
        await world.advance(100)
        assert world.request_times() == [0.0, 7.0]

    run(scenario)


def test_retry_after_on_503_is_honoured_even_beyond_the_backoff_cap():
    async def scenario():
        world = World(replies(Reply(503, retry_after=120.0)))
        world.send("e1")
        await world.advance(600)
        assert world.request_times() == [0.0, 120.0]

    run(scenario)


@pytest.mark.parametrize("retry_after", ["0", "a date in the past"])
def test_a_retry_after_of_zero_or_the_past_waits_at_least_a_second_and_keeps_the_backoff(retry_after):
    """Bug 3 of issue 12: ``Retry-After: 0`` (or a past date) resent at once, in a loop."""
    seconds = parse_retry_after("0" if retry_after == "0" else formatdate(T0 - 30, usegmt=True), T0)

    async def scenario():
        world = World(replies(*[Reply(429, retry_after=seconds)] * 4), rng=lambda: 0.0)
        world.send("e1")
        await world.advance(100)
        times = world.request_times()
        waits = [round(later - earlier, 6) for earlier, later in zip(times, times[1:])]
        assert waits == [RETRY_AFTER_FLOOR, RETRY_AFTER_FLOOR, 2.0, 4.0]

    run(scenario)


def test_an_absurd_retry_after_waits_at_most_an_hour():
    async def scenario():
        world = World(replies(Reply(503, retry_after=10 * 24 * 3600.0)))
        world.send("e1")
        await world.advance(RETRY_AFTER_CAP + 1)
        assert world.request_times() == [0.0, RETRY_AFTER_CAP]

    run(scenario)


def test_a_refused_batch_is_split_and_only_the_invalid_event_is_dropped_with_a_report():
    def collector(events):
        if any(item["event_id"] == "bad" for item in events):
            return Reply(400, error="values[0] is an empty string")
        return Reply(200)

    async def scenario():
        world = World(collector)
        for event_id in ("e1", "bad", "e3"):
            world.outbox.add(event(event_id), world.now)
        world.courier.flush()
        await world.advance(5)
        assert world.sent_ids() == [["e1", "bad", "e3"], ["e1"], ["bad"], ["e3"]]
        assert len(world.outbox) == 0
        [report] = world.reports
        assert "refused event bad" in report
        assert "HTTP 400: values[0] is an empty string" in report
        assert "dropped" in report

    run(scenario)


def test_a_lone_invalid_event_is_dropped_at_once_and_not_retried():
    async def scenario():
        world = World(replies(Reply(422)))
        world.send("e1")
        await world.advance(3600)
        assert world.sent_ids() == [["e1"]]
        assert len(world.outbox) == 0
        assert world.reports == ["the collector refused event e1 (HTTP 422: no reason given); it was dropped"]

    run(scenario)


def test_one_request_at_a_time_and_later_events_go_together_in_the_next():
    async def scenario():
        world = World()
        world.send("e1")
        world.send("e2")
        world.send("e3")
        assert world.sent_ids() == [["e1"]]
        await world.advance(1)
        assert world.sent_ids() == [["e1"], ["e2", "e3"]]
        assert world.most_in_flight == 1
        assert len(world.outbox) == 0

    run(scenario)


def test_a_success_ends_the_backoff_of_waiting_events():
    async def scenario():
        world = World(replies(Reply(500), Reply(500), Reply(500)))
        world.send("e1")
        await world.advance(3.5)  # e1 failed at 0, 1 and 3: it now waits 4 s
        assert world.request_times() == [0.0, 1.0, 3.0]
        world.send("e2")
        await world.settle()
        assert world.sent_ids()[3:] == [["e2"], ["e1"]]
        assert world.request_times()[3:] == [3.5, 3.5]

    run(scenario)


def test_coming_back_online_ends_the_backoff():
    async def scenario():
        world = World(replies(OSError("offline"), OSError("offline"), OSError("offline")))
        world.send("e1")
        await world.advance(3.5)  # failed at 0, 1 and 3: the next try would be at 7
        world.courier.retry_now()  # the browser's "online" event
        await world.settle()
        assert world.request_times() == [0.0, 1.0, 3.0, 3.5]
        assert len(world.outbox) == 0

    run(scenario)


def test_a_closed_tabs_events_are_sent_when_its_lease_runs_out():
    async def scenario():
        storage = MemoryStorage()
        Outbox(storage, "closed-tab").add(event("orphan"), T0)
        world = World(storage=storage, owner="new-page")
        world.courier.flush()
        assert world.requests == []
        await world.advance(LEASE_SECONDS + 1)
        assert world.sent_ids() == [["orphan"]]
        assert world.request_times() == [LEASE_SECONDS]

    run(scenario)


def test_retryable_statuses():
    for status in (0, 408, 425, 429, 500, 502, 503, 504):
        assert is_retryable(status), status
    for status in (400, 401, 403, 404, 413, 422):
        assert not is_retryable(status), status


def test_parse_retry_after_reads_seconds():
    assert parse_retry_after("120", T0) == 120.0
    assert parse_retry_after(" 5 ", T0) == 5.0
    assert parse_retry_after("0", T0) == 0.0


def test_parse_retry_after_reads_an_http_date():
    assert parse_retry_after(formatdate(T0 + 30, usegmt=True), T0) == 30.0


def test_parse_retry_after_treats_a_past_date_as_now():
    assert parse_retry_after(formatdate(T0 - 30, usegmt=True), T0) == 0.0


def test_parse_retry_after_ignores_missing_and_unreadable_values():
    for value in (None, "", "soon", "-5", "1.5e3", "Mon, 99 Foo 2020"):
        assert parse_retry_after(value, T0) is None, value


def test_the_debug_view_shows_each_request_and_its_answer():
    async def scenario():
        lines = []
        world = World(replies(Reply(503, retry_after=2.0)), debug=lines.append)
        world.send("e1")
        await world.advance(10)
        assert lines == [
            "rtp debug: POST collect: 1 event(s) e1",
            "rtp debug: POST collect answered HTTP 503",
            "rtp debug: 1 event(s) kept, retried in 2.0 s",
            "rtp debug: POST collect: 1 event(s) e1",
            "rtp debug: POST collect answered HTTP 200",
        ]

    run(scenario)
