"""Rate limits: events (not requests) per client address per window, in this process.

A fixed window per address: simple, O(1) per request, and a refused client is told
exactly when its next window opens (``Retry-After``); at a window's edge an address
may send up to twice the limit in a short time. Counts live in this process only, so
with several replicas each one allows the limit.

A request with more events than the whole limit would never fit: it is admitted when
its address has sent nothing yet in the window, and uses up the window, so the tag's
largest batch is delivered however low the limit is set.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from starlette.requests import Request

DEFAULT_EVENTS_PER_MINUTE = 3000
WINDOW_SECONDS = 60.0


class EventRateLimiter:
    """At most ``limit`` events per address per ``window`` seconds (``limit`` 0: no limit)."""

    def __init__(self, limit: int, window: float = WINDOW_SECONDS, clock: Callable[[], float] = time.time) -> None:
        if limit < 0 or window <= 0:
            raise ValueError("the rate limit must be 0 (off) or more, and the window more than 0 seconds")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._index = -1
        self._counts: dict[str, int] = {}

    def admit(self, address: str, events: int) -> float | None:
        """Count ``events`` from ``address`` and return None, or, over the limit, count
        nothing and return the seconds until the address's next window."""
        if self.limit == 0:
            return None
        now = self._clock()
        index = math.floor(now / self.window)
        if index != self._index:  # a new window: every address starts again
            self._index, self._counts = index, {}
        used = self._counts.get(address, 0)
        if used + events <= self.limit or used == 0:
            self._counts[address] = used + events
            return None
        return (index + 1) * self.window - now


def retry_after(seconds: float) -> str:
    """``Retry-After`` in whole seconds, rounded up so the retry lands in the new window."""
    return str(max(1, math.ceil(seconds)))


def client_address(request: Request, trust_proxy: bool) -> str:
    """The address to count against: the peer, or with ``trust_proxy`` the last
    ``X-Forwarded-For`` entry (the one the proxy in front appended; earlier entries
    come from the client and could be anything)."""
    if trust_proxy:
        forwarded = request.headers.get("x-forwarded-for", "")
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            return last
    return request.client.host if request.client else "unknown"
