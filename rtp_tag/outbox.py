"""Events waiting for the collector's acknowledgement, persisted in web storage.

An event stays here from the moment it is accepted until a 2xx acknowledges it, so
neither navigation nor an unreachable collector loses it.

Each tab keeps its own key (``rtp:outbox:<owner>``) and is the only writer of it
while alive: browsers do not make read-modify-write of one ``localStorage`` key
atomic across tabs, so a shared key could lose events. A live tab refreshes a
lease in its key; a tab that finds another's lease expired (the tab was closed or
navigated away) adopts its events and sends them. The collector drops repeated
``event_id``s, so an event resent after a lost acknowledgement is harmless.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .protocol import MAX_BODY_BYTES
from .storage import Storage

OUTBOX_PREFIX = "rtp:outbox:"
MAX_EVENTS = 1000
MAX_STORED_BYTES = 512 * 1024
BATCH_BYTES = MAX_BODY_BYTES - 4 * 1024
"""Room left under the keepalive budget for headers and the drop count."""
LEASE_SECONDS = 15.0
"""How long a tab's events stay its own without a heartbeat."""
HEARTBEAT_SECONDS = 5.0


@dataclass(frozen=True)
class Batch:
    """Events taken together for one request."""

    event_ids: tuple[str, ...]
    body: str
    dropped: int


class Outbox:
    """One tab's persisted queue of unacknowledged events."""

    def __init__(
        self,
        storage: Storage,
        owner: str,
        max_events: int = MAX_EVENTS,
        max_bytes: int = MAX_STORED_BYTES,
    ) -> None:
        self._storage = storage
        self._key = OUTBOX_PREFIX + owner
        self._max_events = max_events
        self._max_bytes = max_bytes

    def add(self, event: dict[str, Any], now: float) -> None:
        """Keep ``event`` until it is acknowledged; the oldest go first when full."""
        state = self._load(self._key)
        state["entries"].append({"event": event, "attempts": 0, "next_at": now})
        entries = state["entries"]
        while len(entries) > self._max_events or (
            len(entries) > 1 and len(json.dumps(entries)) > self._max_bytes
        ):
            entries.pop(0)
            state["dropped"] += 1
        self._save(state, now)

    def take(self, now: float, budget: int = BATCH_BYTES) -> Batch | None:
        """The due events that fit in one request, oldest first (after adopting the
        events of tabs that are gone)."""
        state = self._adopt_orphans(now)
        chosen: list[dict[str, Any]] = []
        size = 2
        for entry in state["entries"]:
            if entry["next_at"] > now:
                continue
            entry_size = len(json.dumps(entry["event"])) + 1
            if chosen and (size + entry_size > budget or entry.get("solo") or chosen[0].get("solo")):
                break
            chosen.append(entry)
            size += entry_size
        if not chosen:
            return None
        events = [dict(entry["event"]) for entry in chosen]
        if state["dropped"]:
            events[0]["dropped"] = state["dropped"]
        return Batch(
            event_ids=tuple(event["event_id"] for event in events),
            body=json.dumps(events, separators=(",", ":")),
            dropped=state["dropped"],
        )

    def acknowledge(self, batch: Batch, now: float) -> None:
        """The collector stored the batch: forget its events and the drops it reported."""
        state = self._load(self._key)
        ids = set(batch.event_ids)
        state["entries"] = [e for e in state["entries"] if e["event"]["event_id"] not in ids]
        state["dropped"] = max(0, state["dropped"] - batch.dropped)
        self._save(state, now)

    def retry_later(
        self, event_ids: tuple[str, ...], at: float, now: float, *, solo: bool = False, told: bool = False
    ) -> None:
        """Make these events due again at ``at``; ``solo`` sends each alone next time,
        so one invalid event cannot sink the others of its batch. ``told`` marks a wait
        the collector asked for (``Retry-After``): it is kept, where a backoff of our own
        is cut short by signs of recovery (a 2xx, ``online``, a new page)."""
        state = self._load(self._key)
        for entry in state["entries"]:
            if entry["event"]["event_id"] in event_ids:
                entry["attempts"] += 1
                entry["next_at"] = at
                entry["told"] = told
                if solo:
                    entry["solo"] = True
        self._save(state, now)

    def expedite(self, now: float) -> None:
        """End our own backoffs (not the collector's ``Retry-After``): it is reachable again."""
        state = self._load(self._key)
        if _expedite(state["entries"], now):
            self._save(state, now)

    def discard(self, event_ids: tuple[str, ...], now: float) -> None:
        """Forget events the collector refused as invalid."""
        state = self._load(self._key)
        ids = set(event_ids)
        state["entries"] = [e for e in state["entries"] if e["event"]["event_id"] not in ids]
        self._save(state, now)

    def attempts(self, event_id: str) -> int:
        """How many times this event has been tried and failed (0 when unknown)."""
        for entry in self._load(self._key)["entries"]:
            if entry["event"]["event_id"] == event_id:
                return int(entry["attempts"])
        return 0

    def heartbeat(self, now: float) -> None:
        """Renew this tab's lease on its events, so other tabs leave them alone."""
        state = self._load(self._key)
        if state["entries"]:
            self._save(state, now)

    def release(self) -> None:
        """The page is going away: let the next page adopt these events at once."""
        state = self._load(self._key)
        if state["entries"] or state["dropped"]:
            state["alive_until"] = 0.0
            self._storage.set(self._key, json.dumps(state, separators=(",", ":")))

    def next_due(self, now: float) -> float | None:
        """When something next needs doing: an own event falls due, this tab's lease
        needs renewing, or another tab's lease on waiting events runs out."""
        times = [float(entry["next_at"]) for entry in self._load(self._key)["entries"]]
        if times:
            times.append(now + HEARTBEAT_SECONDS)
        for key in self._foreign_keys():
            other = self._load(key)
            if other["entries"]:
                times.append(float(other["alive_until"]))
        return min(times) if times else None

    def __len__(self) -> int:
        return len(self._load(self._key)["entries"])

    def _adopt_orphans(self, now: float) -> dict[str, Any]:
        """Take over the events of tabs whose lease ran out. Their keys are removed only
        after this tab's own key holds the events: if that save fails (a full quota), the
        storage falls back to memory for the rest of the page, the removals with it, and
        the events stay in the other keys for the next page."""
        state = self._load(self._key)
        adopted: list[str] = []
        for key in self._foreign_keys():
            other = self._load(key)
            if other["alive_until"] > now:  # next_due wakes us at alive_until: adopt then
                continue
            _expedite(other["entries"], now)  # a new page is a new chance: retry at once
            state["entries"].extend(other["entries"])
            state["dropped"] += other["dropped"]
            adopted.append(key)
        if adopted:
            state["entries"].sort(key=lambda entry: entry["event"].get("ts", 0))
            self._save(state, now)
            for key in adopted:
                self._storage.remove(key)
        return state

    def _foreign_keys(self) -> list[str]:
        return [key for key in self._storage.keys() if key.startswith(OUTBOX_PREFIX) and key != self._key]

    def _load(self, key: str) -> dict[str, Any]:
        raw = self._storage.get(key)
        if raw:
            try:
                state = json.loads(raw)
                if isinstance(state.get("entries"), list) and isinstance(state.get("dropped"), int):
                    state.setdefault("alive_until", 0.0)
                    return state
            except (ValueError, AttributeError):
                pass
        return {"entries": [], "dropped": 0, "alive_until": 0.0}

    def _save(self, state: dict[str, Any], now: float) -> None:
        if not state["entries"] and not state["dropped"]:
            self._storage.remove(self._key)
            return
        state["alive_until"] = now + LEASE_SECONDS
        self._storage.set(self._key, json.dumps(state, separators=(",", ":")))


def _expedite(entries: list[dict[str, Any]], now: float) -> bool:
    """Make entries waiting on a backoff of ours due now; say whether any changed."""
    changed = False
    for entry in entries:
        if entry["next_at"] > now and not entry.get("told"):
            entry["next_at"] = now
            changed = True
    return changed
