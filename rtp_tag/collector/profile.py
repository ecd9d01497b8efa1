"""What segment rules need to know about one visitor of one account, in bounded size.

A ``VisitorProfile`` is folded from the visitor's events, one newly stored event
at a time (``fold``), and rules are evaluated over it (segments.py): an answer
costs the same after 1 event or 100,000.

Order: each fact carries a ``Mark`` ``(ts, arrival)``: when the visitor did it (the
event's ``ts``), ties broken by the order events were folded. Facts keep their
earliest mark and recent views their latest, so an event delivered late (an outbox
emptied after an outage, with older ``ts``) lands where it happened: entering a
segment is decided by ``ts``, and views count toward ``after_views`` when their
``ts`` is after the entry. Within the caps below, folding the same events in any
order gives the same answers.

Caps (the profile never grows with the number of events):
- ``MAX_DISTINCT`` custom data values, pages, external referrers and searches each,
  keeping the earliest: a visitor never leaves a segment because of later ones, and
  a value first sent after the cap is reached is not seen by rules;
- the ``RECENT_VIEWS`` latest views: enough to count any ``after_views``;
- ``MAX_SESSIONS`` latest sessions by id (older ones are only counted), so a late
  event of a known session is not counted as a visit twice;
- ``MAX_VAR_SETTINGS`` latest settings of each custom variable.

Stdlib only, and pure: ``fold`` returns a new profile and never changes its input.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..protocol import CUSTOM_VARS
from .campaigns import MAX_AFTER_VIEWS
from .pages import external_referrer, page_key, search_query

Mark = tuple[int, int]
"""``(ts, arrival)``: when the visitor did something, in the order rules use."""
ALWAYS: Mark = (-1, -1)
"""Before any event: the entry of a rule that holds for the visitor's whole history."""
MAX_DISTINCT = 100
RECENT_VIEWS = MAX_AFTER_VIEWS
MAX_SESSIONS = 100
MAX_VAR_SETTINGS = 10
FORMAT = 1
"""The JSON layout's version, written as ``"v"``."""


@dataclass(frozen=True)
class VisitorProfile:
    folded: int = 0
    """Events folded so far: the arrival half of each ``Mark`` (a counter, not a list)."""
    values: Mapping[str, Mark] = field(default_factory=dict)
    """Each custom data value sent (casefolded) and when it was first sent."""
    pages: Mapping[str, Mark] = field(default_factory=dict)
    """Each page viewed (``pages.page_key``) and its first view."""
    referrers: Mapping[str, Mark] = field(default_factory=dict)
    """Each other site a view came from (``pages.external_referrer``) and its first view."""
    searches: Mapping[str, Mark] = field(default_factory=dict)
    """Each search that led to a view (``pages.search_query``) and its first view."""
    recent_views: tuple[Mark, ...] = ()
    """The latest ``RECENT_VIEWS`` views, oldest first."""
    sessions: Mapping[str, Mark] = field(default_factory=dict)
    """The latest ``MAX_SESSIONS`` sessions (visits) and the first event of each."""
    older_sessions: int = 0
    """Sessions before those in ``sessions``, counted but forgotten."""
    custom_vars: Mapping[str, tuple[tuple[Mark, str], ...]] = field(default_factory=dict)
    """``customVar1``..``customVar5``: their latest settings (from views), oldest first."""

    def visits(self) -> int:
        return self.older_sessions + len(self.sessions)

    def visit_start(self, number: int) -> Mark | None:
        """When the ``number``-th visit (1-based, by time) began; for a forgotten one,
        the earliest remembered (a later mark: ``after_views`` counts fewer, never more)."""
        if number < 1 or number > self.visits():
            return None
        starts = sorted(self.sessions.values())
        return starts[max(0, number - 1 - self.older_sessions)]

    def views_after(self, entry: Mark) -> int:
        """Views made after ``entry``, counted up to ``RECENT_VIEWS`` (all ``after_views`` needs)."""
        return sum(1 for mark in self.recent_views if mark > entry)

    def custom_var(self, name: str) -> tuple[str, Mark] | None:
        """The variable's current value (its latest setting) and since when it has held
        that value (ignoring case); None when it was never set."""
        settings = self.custom_vars.get(name, ())
        if not settings:
            return None
        value = settings[-1][1]
        since = settings[-1][0]
        for mark, earlier in reversed(settings):
            if earlier.casefold() != value.casefold():
                break
            since = mark
        return value, since

    def to_json(self) -> str:
        return json.dumps(
            {
                "v": FORMAT,
                "folded": self.folded,
                "values": self.values,
                "pages": self.pages,
                "referrers": self.referrers,
                "searches": self.searches,
                "recent_views": self.recent_views,
                "sessions": self.sessions,
                "older_sessions": self.older_sessions,
                "custom_vars": self.custom_vars,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> VisitorProfile:
        """The profile ``to_json`` wrote; keys this version does not know are ignored."""
        data = json.loads(text)
        marks = lambda table: {key: _mark(mark) for key, mark in data.get(table, {}).items()}  # noqa: E731
        return cls(
            folded=int(data.get("folded", 0)),
            values=marks("values"),
            pages=marks("pages"),
            referrers=marks("referrers"),
            searches=marks("searches"),
            recent_views=tuple(_mark(mark) for mark in data.get("recent_views", ())),
            sessions=marks("sessions"),
            older_sessions=int(data.get("older_sessions", 0)),
            custom_vars={
                name: tuple((_mark(mark), str(value)) for mark, value in settings)
                for name, settings in data.get("custom_vars", {}).items()
            },
        )


EMPTY_PROFILE = VisitorProfile()


def fold(profile: VisitorProfile, event: Mapping[str, Any]) -> VisitorProfile:
    """``profile`` with one newly stored event added (never fold a duplicate in)."""
    mark: Mark = (_ts(event), profile.folded)
    changes: dict[str, Any] = {"folded": profile.folded + 1}
    session = event.get("session_id")
    if isinstance(session, str) and session:
        changes.update(_with_session(profile, session, mark))
    kind = event.get("type")
    if kind == "event":
        values = [value.casefold() for value in event.get("values", ()) if isinstance(value, str)]
        changes["values"] = _with_firsts(profile.values, values, mark)
    elif kind == "view":
        changes.update(_with_view(profile, event, mark))
    return replace(profile, **changes)


def fold_all(events: Iterable[Mapping[str, Any]], profile: VisitorProfile = EMPTY_PROFILE) -> VisitorProfile:
    """``profile`` with ``events`` folded in, in the order given (their arrival order)."""
    for event in events:
        profile = fold(profile, event)
    return profile


def _with_view(profile: VisitorProfile, event: Mapping[str, Any], mark: Mark) -> dict[str, Any]:
    url = str(event.get("url") or "")
    referrer = str(event.get("referrer") or "")
    page = page_key(url)
    source = external_referrer(page, referrer)
    search = search_query(referrer) if source is not None else None
    changes: dict[str, Any] = {
        "recent_views": tuple(sorted((*profile.recent_views, mark))[-RECENT_VIEWS:]),
        "pages": _with_firsts(profile.pages, [page] if page else [], mark),
        "referrers": _with_firsts(profile.referrers, [source] if source else [], mark),
        "searches": _with_firsts(profile.searches, [search] if search else [], mark),
    }
    props = event.get("props")
    settings = {
        name: value for name, value in (props.items() if isinstance(props, Mapping) else ())
        if name in CUSTOM_VARS and isinstance(value, str)
    }
    if settings:
        custom_vars = dict(profile.custom_vars)
        for name, value in settings.items():
            custom_vars[name] = tuple(sorted((*custom_vars.get(name, ()), (mark, value))))[-MAX_VAR_SETTINGS:]
        changes["custom_vars"] = custom_vars
    return changes


def _with_firsts(table: Mapping[str, Mark], keys: Iterable[str], mark: Mark) -> Mapping[str, Mark]:
    """``table`` with each key's earliest mark, keeping the ``MAX_DISTINCT`` earliest keys."""
    updated = None
    for key in keys:
        if key in table and table[key] <= mark:
            continue
        updated = dict(table) if updated is None else updated
        updated[key] = min(mark, updated.get(key, mark))
        if len(updated) > MAX_DISTINCT:
            del updated[max(updated, key=updated.__getitem__)]
        table = updated
    return table


def _with_session(profile: VisitorProfile, session: str, mark: Mark) -> dict[str, Any]:
    known = profile.sessions.get(session)
    if known is not None:
        return {} if known <= mark else {"sessions": {**profile.sessions, session: mark}}
    if profile.older_sessions and len(profile.sessions) >= MAX_SESSIONS and mark < min(profile.sessions.values()):
        return {}  # older than every session kept: one of the forgotten ones, already counted
    sessions = {**profile.sessions, session: mark}
    older = profile.older_sessions
    if len(sessions) > MAX_SESSIONS:
        del sessions[min(sessions, key=sessions.__getitem__)]
        older += 1
    return {"sessions": sessions, "older_sessions": older}


def _ts(event: Mapping[str, Any]) -> int:
    ts = event.get("ts", 0)
    return int(ts) if isinstance(ts, (int, float)) and not isinstance(ts, bool) else 0


def _mark(value: Any) -> Mark:
    ts, arrival = value
    return (int(ts), int(arrival))
