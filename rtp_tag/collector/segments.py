"""Rules → membership → campaigns, computed in real time from one visitor's events.

A visitor enters a segment with the first custom data value that matches its rule
(ignoring case), in any session; from then on, each ``view`` counts toward a
campaign's ``after_views``. Events are taken in the order the visitor made them
(their ``ts``), so an event delivered late after an outage still counts where it
happened. Stdlib only: these functions and their tests also run under Pyodide.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .campaigns import Campaign, CampaignConfig, Segment


@dataclass(frozen=True)
class Membership:
    segment: Segment
    views_since_entering: int
    """``view`` events the visitor made after the event that put them in the segment."""


def rule_matches(segment: Segment, value: str) -> bool:
    """Whether one custom data value satisfies the segment's rule, ignoring case."""
    folded = value.casefold()
    if segment.custom_data is not None:
        return folded == segment.custom_data.casefold()
    if segment.custom_data_contains is not None:
        return segment.custom_data_contains.casefold() in folded
    return False


def memberships(config: CampaignConfig, events: Iterable[Mapping[str, Any]]) -> list[Membership]:
    """The segments the visitor of ``events`` is in, in the file's order."""
    ordered = sorted(events, key=lambda event: event.get("ts", 0))  # stable: arrival order breaks ties
    found = []
    for segment in config.segments:
        entered = _entering_index(segment, ordered)
        if entered is not None:
            views = sum(1 for event in ordered[entered + 1 :] if event.get("type") == "view")
            found.append(Membership(segment, views))
    return found


def matched_segments(config: CampaignConfig, events: Iterable[Mapping[str, Any]]) -> list[Segment]:
    return [membership.segment for membership in memberships(config, events)]


def campaigns_to_show(config: CampaignConfig, events: Iterable[Mapping[str, Any]]) -> list[Campaign]:
    """The campaigns whose segment the visitor is in and whose ``after_views`` have
    passed, in the file's order (the tag shows the first one per zone)."""
    views_by_segment = {m.segment.id: m.views_since_entering for m in memberships(config, events)}
    return [
        campaign
        for campaign in config.campaigns
        if campaign.segment in views_by_segment and views_by_segment[campaign.segment] >= campaign.after_views
    ]


def events_of_account(events: Iterable[Mapping[str, Any]], account: str | None) -> list[Mapping[str, Any]]:
    """Only the events sent for ``account`` (all of them when it is None)."""
    if account is None:
        return list(events)
    return [event for event in events if (event.get("account") or "") == account]


def _entering_index(segment: Segment, ordered: Sequence[Mapping[str, Any]]) -> int | None:
    for index, event in enumerate(ordered):
        if event.get("type") == "event" and any(
            isinstance(value, str) and rule_matches(segment, value) for value in event.get("values", ())
        ):
            return index
    return None
