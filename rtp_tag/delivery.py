"""Sending the outbox to the collector: one request in flight, retries with backoff.

A request is started synchronously inside the call that queued the event, so a
click that navigates away has its request on the wire before the page unloads.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from .outbox import Batch

BACKOFF_BASE = 1.0
BACKOFF_CAP = 60.0
RETRY_AFTER_CAP = 3600.0
RETRY_AFTER_FLOOR = 1.0
"""The shortest wait a ``Retry-After`` gets: ``0`` or a past date must not resend in a loop."""


@dataclass(frozen=True)
class Reply:
    """What came back for one request; ``status`` 0 means the network failed."""

    status: int
    retry_after: float | None = None
    error: str = ""


Post = Callable[[str], Awaitable[Reply]]
"""Starts a POST of the body at once and returns an awaitable of its reply."""
Schedule = Callable[[float, Callable[[], None]], object]
"""Calls the callback after a delay in seconds."""


class Queue(Protocol):
    """What the Courier sends from: the outbox of events (outbox.Outbox), or the
    forget requests (forget.ForgetRequests)."""

    def take(self, now: float) -> Batch | None: ...

    def acknowledge(self, batch: Batch, now: float) -> None: ...

    def retry_later(
        self, ids: tuple[str, ...], at: float, now: float, *, solo: bool = False, told: bool = False
    ) -> None: ...

    def discard(self, ids: tuple[str, ...], now: float) -> None: ...

    def expedite(self, now: float) -> None: ...

    def attempts(self, id: str) -> int: ...

    def heartbeat(self, now: float) -> None: ...

    def next_due(self, now: float) -> float | None: ...


def backoff_delay(attempts: int, rng: Callable[[], float] = random.random) -> float:
    """Exponential backoff with jitter: about 1, 2, 4 ... seconds, capped at a minute."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** min(attempts, 16))
    return ceiling * (0.5 + rng() / 2)


def is_retryable(status: int) -> bool:
    """Network errors, timeouts, throttling and server errors are worth another try."""
    return status == 0 or status in (408, 425, 429) or status >= 500


class Courier:
    """Moves events from the outbox to the collector, one request at a time."""

    def __init__(
        self,
        outbox: Queue,
        post: Post,
        *,
        clock: Callable[[], float],
        schedule: Schedule,
        report: Callable[[str], None],
        rng: Callable[[], float] = random.random,
        debug: Callable[[str], None] | None = None,
    ) -> None:
        self._debug = debug
        self._outbox = outbox
        self._post = post
        self._clock = clock
        self._schedule = schedule
        self._report = report
        self._rng = rng
        self._in_flight = False
        self._wake_at: float | None = None

    @property
    def in_flight(self) -> bool:
        """A request is on its way and has not been answered."""
        return self._in_flight

    def retry_now(self) -> None:
        """The browser is back ``online``: end our backoffs and send at once."""
        self._outbox.expedite(self._clock())
        self.flush()

    def flush(self) -> None:
        """Send what is due now; when nothing is, arrange to wake when something will be."""
        if self._in_flight:
            return  # the reply's settlement flushes again
        now = self._clock()
        batch = self._outbox.take(now)
        if batch is None:
            self._wake_for(self._outbox.next_due(now), now)
            return
        self._in_flight = True
        if self._debug:
            self._debug(f"rtp debug: POST collect: {len(batch.event_ids)} event(s) {', '.join(batch.event_ids)}")
        try:
            pending = self._post(batch.body)
        except Exception as error:  # a transport that throws is a network failure
            pending = _failed(str(error))
        asyncio.ensure_future(self._settle(batch, pending))

    async def _settle(self, batch: Batch, pending: Awaitable[Reply]) -> None:
        try:
            reply = await pending
        except Exception as error:
            reply = Reply(0, error=str(error))
        try:
            self._apply(batch, reply)
        finally:
            self._in_flight = False
        self.flush()

    def _apply(self, batch: Batch, reply: Reply) -> None:
        now = self._clock()
        if self._debug:
            answer = f"HTTP {reply.status}" if reply.status else f"nothing ({reply.error or 'network error'})"
            reason = f": {reply.error}" if reply.status and reply.error else ""
            self._debug(f"rtp debug: POST collect answered {answer}{reason}")
        if 200 <= reply.status < 300:
            self._outbox.acknowledge(batch, now)
            self._outbox.expedite(now)  # the collector is reachable: stop backing off
        elif is_retryable(reply.status):
            told = reply.retry_after is not None and reply.status in (429, 503)
            delay = backoff_delay(self._outbox.attempts(batch.event_ids[0]), self._rng)
            if told:  # at least what the collector asked, and never less than our backoff
                delay = min(max(reply.retry_after or 0.0, RETRY_AFTER_FLOOR, delay), RETRY_AFTER_CAP)
            self._outbox.retry_later(batch.event_ids, now + delay, now, told=told)
            if self._debug:
                self._debug(f"rtp debug: {len(batch.event_ids)} event(s) kept, retried in {delay:.1f} s")
        elif len(batch.event_ids) > 1:
            self._outbox.retry_later(batch.event_ids, now, now, solo=True)
        else:
            self._outbox.discard(batch.event_ids, now)
            self._report(
                f"the collector refused event {batch.event_ids[0]} "
                f"(HTTP {reply.status}: {reply.error or 'no reason given'}); it was dropped"
            )

    def _wake_for(self, due: float | None, now: float) -> None:
        if due is None or (self._wake_at is not None and self._wake_at <= due and self._wake_at > now):
            return
        self._wake_at = due
        self._schedule(max(0.0, due - now), self._on_wake)

    def _on_wake(self) -> None:
        """Every write of the outbox renews this tab's lease, and a request in flight
        ends (by its timeout at the latest) within the lease; while events wait out a
        backoff with no write, these wake-ups (every HEARTBEAT_SECONDS) renew it."""
        self._wake_at = None
        self._outbox.heartbeat(self._clock())
        self.flush()


async def _failed(error: str) -> Reply:
    return Reply(0, error=error)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime

    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
