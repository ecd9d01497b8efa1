"""Rules → membership → campaigns, evaluated over one visitor's ``VisitorProfile``.

Each rule that holds has an entry point (a ``Mark``): the moment the visitor met
it. A segment's entry is the latest of its rules' entries with ``match = "all"``
(when the last one came true), the earliest of those that hold with ``"any"``.
From its entry on, each ``view`` counts toward a campaign's ``after_views``.

| rule | holds when | entry |
|---|---|---|
| custom_data(_contains) | a value sent equals (contains) it | first such value sent |
| pages_include | a page viewed matches a pattern | first view of such a page |
| pages_exclude | no page viewed matches a pattern | always (the whole history) |
| referrer_contains | a view came from another site containing it | first such view |
| search_terms | a view came from a search containing one | first such view |
| visits >= N, = N | the visitor has made N or more (exactly N) visits | start of visit N |
| visits <= N | the visitor has made at most N visits | always |
| device | the request's User-Agent is of that class | always (it is the current device) |
| custom_varN | the variable's latest value equals it | when it took that value |

Times are the visitor's own (``ts``), so an event delivered late still counts
where it happened (see profile.py). Stdlib only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from .campaigns import Campaign, CampaignConfig, Segment, Visits
from .pages import page_matches
from .profile import ALWAYS, Mark, VisitorProfile


@dataclass(frozen=True)
class Membership:
    segment: Segment
    views_since_entering: int
    """``view`` events the visitor made after entering the segment, counted up to
    ``profile.RECENT_VIEWS`` (enough for any ``after_views``)."""


def entry(segment: Segment, profile: VisitorProfile, device: str | None = None) -> Mark | None:
    """When the visitor entered ``segment``; None when they are not in it."""
    entries = list(_rule_entries(segment, profile, device))
    holding = [mark for mark in entries if mark is not None]
    if segment.match == "any":
        return min(holding, default=None)
    return max(holding) if holding and len(holding) == len(entries) else None


def memberships(config: CampaignConfig, profile: VisitorProfile, device: str | None = None) -> list[Membership]:
    """The segments the visitor is in, in the file's order; ``device`` is the
    request's device class (``devices.device_class``)."""
    found = []
    for segment in config.segments:
        entered = entry(segment, profile, device)
        if entered is not None:
            found.append(Membership(segment, profile.views_after(entered)))
    return found


def matched_segments(config: CampaignConfig, profile: VisitorProfile, device: str | None = None) -> list[Segment]:
    return [membership.segment for membership in memberships(config, profile, device)]


def campaigns_to_show(config: CampaignConfig, profile: VisitorProfile, device: str | None = None) -> list[Campaign]:
    """The campaigns whose segment the visitor is in and whose ``after_views`` have
    passed, in the file's order (the tag shows the first one per zone)."""
    views_by_segment = {m.segment.id: m.views_since_entering for m in memberships(config, profile, device)}
    return [
        campaign
        for campaign in config.campaigns
        if campaign.segment in views_by_segment and views_by_segment[campaign.segment] >= campaign.after_views
    ]


def _rule_entries(segment: Segment, profile: VisitorProfile, device: str | None) -> Iterator[Mark | None]:
    """Each of the segment's rules: its entry point, or None when it does not hold."""
    if segment.custom_data is not None:
        exact = segment.custom_data.casefold()
        yield profile.values.get(exact)
    if segment.custom_data_contains is not None:
        part = segment.custom_data_contains.casefold()
        yield _first(profile.values, lambda value: part in value)
    if segment.pages_include:
        yield _first(profile.pages, lambda page: _any_page(segment.pages_include, page))
    if segment.pages_exclude:
        yield ALWAYS if _first(profile.pages, lambda page: _any_page(segment.pages_exclude, page)) is None else None
    if segment.referrer_contains:
        yield _first(profile.referrers, _contains_any(segment.referrer_contains))
    if segment.search_terms:
        yield _first(profile.searches, _contains_any(segment.search_terms))
    if segment.visits is not None:
        yield _visits(segment.visits, profile)
    if segment.device:
        yield ALWAYS if device in segment.device else None
    for name, wanted in segment.custom_vars:
        current = profile.custom_var(name)
        yield current[1] if current is not None and current[0].casefold() == wanted.casefold() else None


def _visits(rule: Visits, profile: VisitorProfile) -> Mark | None:
    visits = profile.visits()
    if rule.operator == "<=":
        return ALWAYS if visits <= rule.count else None
    if visits < rule.count or (rule.operator == "=" and visits > rule.count):
        return None
    return profile.visit_start(rule.count)


def _contains_any(parts: tuple[str, ...]) -> Callable[[str], bool]:
    folded = [part.casefold() for part in parts]
    return lambda text: any(part in text for part in folded)


def _any_page(patterns: tuple[str, ...], page: str) -> bool:
    return any(page_matches(pattern, page) for pattern in patterns)


def _first(table: Mapping[str, Mark], matches: Callable[[str], bool]) -> Mark | None:
    """The earliest mark of the keys that match."""
    return min((mark for key, mark in table.items() if matches(key)), default=None)
