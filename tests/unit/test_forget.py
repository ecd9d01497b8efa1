"""Forget requests (issue 11) go through the events' Courier and are kept in the privacy
record until the collector acknowledges them, across pages."""

import asyncio
import json

from rtp_tag.consent import PRIVACY_KEY, PrivacyRecord
from rtp_tag.delivery import Courier, Reply
from rtp_tag.forget import ForgetRequests
from rtp_tag.storage import MemoryStorage

from test_delivery import T0, replies, run


class Collector:
    """Answers forget requests with the replies given, then 200; records the bodies."""

    def __init__(self, answer):
        self.answer = answer
        self.bodies = []

    def post(self, body):
        self.bodies.append(json.loads(body))
        return self._respond()

    async def _respond(self):
        await asyncio.sleep(0)
        reply = self.answer(None)
        if isinstance(reply, Exception):
            raise reply
        return reply


class Page:
    """One page's forget Courier over a browser's localStorage."""

    def __init__(self, storage, collector, events_in_flight=lambda: False):
        self.now = T0
        self.timers = []
        self.requests = ForgetRequests(storage, events_in_flight)
        self.courier = Courier(
            self.requests, collector.post, clock=lambda: self.now, schedule=self.schedule, report=print, rng=lambda: 1.0
        )

    def schedule(self, delay, callback):
        self.timers.append((self.now + delay, callback))

    async def advance(self, seconds):
        end = self.now + seconds
        for _ in range(1000):
            for _ in range(20):
                await asyncio.sleep(0)
            due = sorted((timer for timer in self.timers if timer[0] <= end), key=lambda timer: timer[0])
            if not due:
                break
            self.timers.remove(due[0])
            self.now = max(self.now, due[0][0])
            due[0][1]()
        self.now = end


def test_a_forget_request_is_posted_once_and_removed_from_the_record_when_acknowledged():
    async def scenario():
        storage = MemoryStorage({PRIVACY_KEY: '{"optedOut":true}'})
        collector = Collector(replies(Reply(200)))
        page = Page(storage, collector)
        page.requests.add("visitor-1", page.now)
        page.courier.flush()
        await page.advance(600)
        assert collector.bodies == [{"visitor_id": "visitor-1"}]
        assert storage.items == {PRIVACY_KEY: '{"optedOut":true}'}

    run(scenario)


def test_a_forget_request_the_collector_could_not_take_is_retried_with_backoff():
    async def scenario():
        storage = MemoryStorage()
        collector = Collector(replies(Reply(0, error="down"), Reply(503, retry_after=30)))
        page = Page(storage, collector)
        page.requests.add("visitor-1", page.now)
        page.courier.flush()
        await page.advance(600)
        assert collector.bodies == [{"visitor_id": "visitor-1"}] * 3
        assert PRIVACY_KEY not in storage.items  # acknowledged: nothing is left

    run(scenario)


def test_a_later_page_sends_what_an_earlier_page_could_not():
    async def scenario():
        storage = MemoryStorage()
        down = Collector(lambda _: Reply(0, error="down"))
        first = Page(storage, down)
        first.requests.add("visitor-1", first.now)
        first.courier.flush()
        await first.advance(0)
        assert PrivacyRecord.load(storage).forget[0]["visitor_id"] == "visitor-1"
        up = Collector(replies())
        later = Page(storage, up)
        later.now = T0 + 3600
        later.courier.flush()
        await later.advance(0)
        assert up.bodies == [{"visitor_id": "visitor-1"}]
        assert PrivacyRecord.load(storage).forget == []

    run(scenario)


def test_a_forget_request_waits_for_the_events_request_in_flight():
    async def scenario():
        storage = MemoryStorage()
        collector = Collector(replies())
        in_flight = [True]
        page = Page(storage, collector, events_in_flight=lambda: in_flight[0])
        page.requests.add("visitor-1", page.now)
        page.courier.flush()
        await page.advance(1)
        assert collector.bodies == []
        in_flight[0] = False
        await page.advance(1)
        assert collector.bodies == [{"visitor_id": "visitor-1"}]

    run(scenario)


def test_the_same_visitor_is_asked_for_once():
    storage = MemoryStorage()
    requests = ForgetRequests(storage)
    requests.add("visitor-1", T0)
    requests.add("visitor-1", T0 + 1)
    assert len(requests) == 1
