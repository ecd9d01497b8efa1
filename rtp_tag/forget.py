"""Requests that the collector forget a visitor (``POST /forget``), kept until acknowledged.

An opt-out removes every key the tag wrote, the outbox included, so these requests
cannot wait there: they are kept in the privacy record (the one key an opted-out
visitor keeps) and handed to the same ``Courier`` as events, which brings the
same keepalive requests, retries, backoff and ``Retry-After``. A later page sends
what an earlier one could not; the collector answers a repeated request alike.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from .consent import PrivacyRecord
from .outbox import Batch
from .storage import Storage


class ForgetRequests:
    """The Courier's queue for forget requests: one visitor id per request."""

    def __init__(self, storage: Storage, events_in_flight: Callable[[], bool] = lambda: False) -> None:
        """``events_in_flight``: a request of events is on its way; the forget request
        waits for it, so it cannot reach the collector before events it should erase."""
        self._storage = storage
        self._events_in_flight = events_in_flight

    def add(self, visitor_id: str, now: float) -> None:
        record = PrivacyRecord.load(self._storage)
        if all(entry["visitor_id"] != visitor_id for entry in record.forget):
            record.forget.append({"visitor_id": visitor_id, "attempts": 0, "next_at": now})
            record.save(self._storage)

    def take(self, now: float) -> Batch | None:
        if self._events_in_flight():
            return None
        for entry in PrivacyRecord.load(self._storage).forget:
            if float(entry.get("next_at", 0)) <= now:
                body = json.dumps({"visitor_id": entry["visitor_id"]}, separators=(",", ":"))
                return Batch(event_ids=(entry["visitor_id"],), body=body, dropped=0)
        return None

    def acknowledge(self, batch: Batch, now: float) -> None:
        self.discard(batch.event_ids, now)

    def discard(self, visitor_ids: tuple[str, ...], now: float) -> None:
        record = PrivacyRecord.load(self._storage)
        record.forget = [entry for entry in record.forget if entry["visitor_id"] not in visitor_ids]
        record.save(self._storage)

    def retry_later(
        self, visitor_ids: tuple[str, ...], at: float, now: float, *, solo: bool = False, told: bool = False
    ) -> None:
        record = PrivacyRecord.load(self._storage)
        for entry in record.forget:
            if entry["visitor_id"] in visitor_ids:
                entry["attempts"] = int(entry.get("attempts", 0)) + 1
                entry["next_at"] = at
                entry["told"] = told
        record.save(self._storage)

    def expedite(self, now: float) -> None:
        record = PrivacyRecord.load(self._storage)
        changed = False
        for entry in record.forget:
            if float(entry.get("next_at", 0)) > now and not entry.get("told"):
                entry["next_at"] = now
                changed = True
        if changed:
            record.save(self._storage)

    def attempts(self, visitor_id: str) -> int:
        for entry in PrivacyRecord.load(self._storage).forget:
            if entry["visitor_id"] == visitor_id:
                return int(entry.get("attempts", 0))
        return 0

    def heartbeat(self, now: float) -> None:
        """Nothing to renew: any tab may send these (the collector forgets once)."""

    def next_due(self, now: float) -> float | None:
        times = [float(entry.get("next_at", 0)) for entry in PrivacyRecord.load(self._storage).forget]
        if times and self._events_in_flight():
            return now + EVENTS_POLL
        return min(times) if times else None

    def __len__(self) -> int:
        return len(PrivacyRecord.load(self._storage).forget)


EVENTS_POLL = 0.1
"""Seconds between looks at whether the events' request in flight has settled."""
