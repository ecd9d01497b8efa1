"""Retention: events received more than N days ago are deleted at start and every
hour while serving (``rtp-tag serve --retain-days N``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool

from .stores import Store

DAY = 86400.0
PURGE_EVERY = 3600.0
"""Seconds between purges while serving: an event outlives its retention by at most this."""


async def purge(store: Store, days: float, report: Callable[[str], None]) -> int:
    """Delete the events received more than ``days`` ago; say how many went, if any."""
    deleted = await run_in_threadpool(store.delete_received_before, time.time() - days * DAY)
    if deleted:
        report(f"rtp-tag: deleted {deleted} event(s) received more than {days:g} day(s) ago (--retain-days)")
    return deleted


async def keep_purging(
    store: Store, days: float, report: Callable[[str], None], every: float = PURGE_EVERY
) -> None:
    """Purge every ``every`` seconds until cancelled; a failed purge is reported and retried."""
    while True:
        await asyncio.sleep(every)
        try:
            await purge(store, days, report)
        except Exception as problem:  # a busy or lost database: try again next time
            report(f"rtp-tag: retention purge failed ({problem}); retrying in {every:g} s")
