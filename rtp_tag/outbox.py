"""Events waiting for the collector's acknowledgement, persisted in web storage.

An event stays here from the moment it is accepted until a 2xx acknowledges it, so
neither navigation nor an unreachable collector loses it. Tabs of one site share
the outbox: a tab claims the events it sends for a short lease, so two tabs do not
send the same event at the same time, and a tab that dies mid-send leaves only a
lease that expires. The collector drops repeated ``event_id``s, so a resend after a
lost acknowledgement is harmless.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .protocol import MAX_BODY_BYTES
from .storage import Storage

OUTBOX_KEY = "rtp:outbox"
MAX_EVENTS = 1000
MAX_STORED_BYTES = 512 * 1024
BATCH_BYTES = MAX_BODY_BYTES - 4 * 1024
"""Room left under the keepalive budget for headers and the drop count."""
CLAIM_SECONDS = 30.0


@dataclass(frozen=True)
class Batch:
    """Events taken together for one request."""

    event_ids: tuple[str, ...]
    body: str
    dropped: int


class Outbox:
    """The persisted queue of unacknowledged events; every method re-reads storage,
    so changes made by other tabs in between are kept."""

    def __init__(
        self,
        storage: Storage,
        owner: str,
        max_events: int = MAX_EVENTS,
        max_bytes: int = MAX_STORED_BYTES,
    ) -> None:
        self._storage = storage
        self._owner = owner
        self._max_events = max_events
        self._max_bytes = max_bytes

    def add(self, event: dict[str, Any], now: float) -> None:
        """Keep ``event`` until it is acknowledged; the oldest go first when full."""
        state = self._load()
        state["entries"].append({"event": event, "attempts": 0, "next_at": now, "claim": None})
        entries = state["entries"]
        while len(entries) > self._max_events or (
            len(entries) > 1 and len(json.dumps(entries)) > self._max_bytes
        ):
            entries.pop(0)
            state["dropped"] += 1
        self._save(state)

    def take(self, now: float, budget: int = BATCH_BYTES) -> Batch | None:
        """Claim the due events that fit in one request, oldest first."""
        state = self._load()
        chosen: list[dict[str, Any]] = []
        size = 2
        for entry in state["entries"]:
            if not self._is_due(entry, now):
                continue
            entry_size = len(json.dumps(entry["event"])) + 1
            if chosen and (size + entry_size > budget or entry.get("solo") or chosen[0].get("solo")):
                break
            chosen.append(entry)
            size += entry_size
        if not chosen:
            return None
        for entry in chosen:
            entry["claim"] = {"by": self._owner, "until": now + CLAIM_SECONDS}
        self._save(state)
        events = [dict(entry["event"]) for entry in chosen]
        if state["dropped"]:
            events[0]["dropped"] = state["dropped"]
        return Batch(
            event_ids=tuple(event["event_id"] for event in events),
            body=json.dumps(events, separators=(",", ":")),
            dropped=state["dropped"],
        )

    def acknowledge(self, batch: Batch) -> None:
        """The collector stored the batch: forget its events and the drops it reported."""
        state = self._load()
        ids = set(batch.event_ids)
        state["entries"] = [e for e in state["entries"] if e["event"]["event_id"] not in ids]
        state["dropped"] = max(0, state["dropped"] - batch.dropped)
        self._save(state)

    def retry_later(self, event_ids: tuple[str, ...], at: float, *, solo: bool = False) -> None:
        """Release the claim on these events and make them due again at ``at``.

        ``solo`` sends each alone next time, so one invalid event cannot sink others.
        """
        state = self._load()
        for entry in state["entries"]:
            if entry["event"]["event_id"] in event_ids:
                entry["attempts"] += 1
                entry["next_at"] = at
                entry["claim"] = None
                if solo:
                    entry["solo"] = True
        self._save(state)

    def discard(self, event_ids: tuple[str, ...]) -> None:
        """Forget events the collector refused as invalid."""
        state = self._load()
        ids = set(event_ids)
        state["entries"] = [e for e in state["entries"] if e["event"]["event_id"] not in ids]
        self._save(state)

    def attempts(self, event_id: str) -> int:
        """How many times this event has been tried and failed (0 when unknown)."""
        for entry in self._load()["entries"]:
            if entry["event"]["event_id"] == event_id:
                return int(entry["attempts"])
        return 0

    def next_due(self, now: float) -> float | None:
        """When the earliest waiting event becomes due, or None when nothing waits."""
        times = [self._due_at(entry) for entry in self._load()["entries"]]
        return min(times) if times else None

    def __len__(self) -> int:
        return len(self._load()["entries"])

    def _is_due(self, entry: dict[str, Any], now: float) -> bool:
        return self._due_at(entry) <= now

    @staticmethod
    def _due_at(entry: dict[str, Any]) -> float:
        claim = entry.get("claim")
        if claim:
            return max(float(entry["next_at"]), float(claim["until"]))
        return float(entry["next_at"])

    def _load(self) -> dict[str, Any]:
        raw = self._storage.get(OUTBOX_KEY)
        if raw:
            try:
                state = json.loads(raw)
                if isinstance(state.get("entries"), list) and isinstance(state.get("dropped"), int):
                    return state
            except (ValueError, AttributeError):
                pass
        return {"entries": [], "dropped": 0}

    def _save(self, state: dict[str, Any]) -> None:
        self._storage.set(OUTBOX_KEY, json.dumps(state, separators=(",", ":")))
