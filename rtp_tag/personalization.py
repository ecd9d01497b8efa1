"""``rtp('get', 'campaign', true)`` and ``rtp('get', 'visitor', callback)``.

Asks the collector about this visitor, turns its answers into Marketo's shapes and
decides what to render; the page port (browser.py) only fetches and writes text.

Two guarantees users depend on:
- A question is asked after the events queued before it were delivered (or a
  short wait ran out), so a click is reflected in the answer to the next call.
- Answers come in call order: when a visitor callback runs, the campaigns asked
  for before it are already in their zones.

What the visitor saw is reported through the outbox like any event: an
``impression`` when a campaign fills its zone, a ``control`` exposure when the
collector holds the visitor back (the zone keeps its default content), each once
per campaign per page, and a ``click`` each time the campaign's link is followed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, NamedTuple, Protocol
from urllib.parse import urlencode, urljoin, urlsplit

from .commands import Console, Debug
from .redirect import RedirectRule, redirect_target


class Placement(NamedTuple):
    """One campaign for one zone, as the collector's answer gives it."""

    zone: str
    text: str
    link: str | None
    name: str
    control: bool
    """The visitor is in the campaign's control group: the zone keeps its own content."""


Report = Callable[[str, str, float], None]
"""``report(kind, campaign_name, ts)``: queue an impression, click or control exposure."""

DELIVERY_WAIT = 3.0
"""Seconds a question waits for earlier events to reach the collector before it is asked anyway."""
DELIVERY_POLL = 0.05
_SAFE_LINK_SCHEMES = ("", "http", "https")
_C0_AND_SPACE = "".join(map(chr, range(0x21)))


class Page(Protocol):
    """What personalization needs from the browser."""

    def get_json(self, url: str) -> Awaitable[tuple[int, Any]]:
        """GET ``url``; the status (0 when the network failed) and the decoded JSON
        (None when the body is not JSON, ``{"error": ...}`` on a network failure)."""
        ...

    def show_in_zone(
        self, zone_id: str, text: str, link: str | None, on_follow: Callable[[], None]
    ) -> bool:
        """Replace the zone's content with ``text`` (as a link when ``link`` is given,
        calling ``on_follow`` when the visitor follows it), never parsed as HTML, and
        mark the element filled; False when the page has no element with that id."""
        ...

    def has_zone(self, zone_id: str) -> bool:
        """Whether the page has an element with that id."""
        ...

    def unfilled_zones(self, zone_ids: list[str]) -> list[str]:
        """Those of ``zone_ids`` whose element is on the page and not filled (one that
        a single-page app rendered after the answer)."""
        ...

    def watch_for_zones(self, added: Callable[[], None]) -> None:
        """Call ``added`` after elements are added to the page (from now on)."""
        ...

    def campaigns_answered(self, shown: list[str]) -> None:
        """This visitor's campaigns are answered (or failed): the page may show its zones."""
        ...

    def location(self) -> str:
        """The page's current URL."""
        ...

    def redirect(self, url: str) -> None:
        """Replace the page with ``url`` (no history entry)."""
        ...


class Personalizer:
    """The tag's ``Personalization``: one question to the collector per call."""

    def __init__(
        self,
        api_url: str,
        page: Page,
        console: Console,
        *,
        undelivered: Callable[[], int] = lambda: 0,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        spawn: Callable[[Coroutine[Any, Any, None]], object] = asyncio.ensure_future,
        debug: Debug = None,
    ) -> None:
        self._api_url = api_url
        self._page = page
        self._console = console
        self._undelivered = undelivered
        self._clock = clock
        self._sleep = sleep
        self._spawn = spawn
        self._debug = debug
        self._turn: asyncio.Lock | None = None
        self._exposed: set[tuple[str, str]] = set()
        """(kind, campaign) reported on this page: an exposure counts once per page."""
        self._placements: list[Placement] = []
        """The last answer's campaign per zone, kept for zones a single-page app renders later."""
        self._report: Report = lambda *_: None
        self._watching = False
        self._redirecting = False

    def show_campaigns(self, visitor_id: str, account: str, report: Report = lambda *_: None) -> None:
        self._spawn(self._in_turn(self.render_campaigns(visitor_id, account, report)))

    def visitor(self, visitor_id: str, account: str, callback: Callable[[Any], object]) -> None:
        async def answer() -> None:
            callback(await self.visitor_answer(visitor_id, account))

        self._spawn(self._in_turn(answer()))

    def redirect(self, visitor_id: str, account: str, rule: RedirectRule) -> None:
        """Once the visitor's context is known, follow ``rule``: at most once per page."""

        async def follow() -> None:
            if self._redirecting:
                if self._debug:
                    self._debug("rtp debug: redirect skipped: this page is already redirecting")
                return
            answer = await self.visitor_answer(visitor_id, account)
            target = redirect_target(rule, answer, self._page.location())
            if self._debug:
                self._debug(f"rtp debug: redirect on {rule.field}: " + (f"to {target}" if target else "none applies"))
            if target is not None and not self._redirecting:
                self._redirecting = True
                self._page.redirect(target)

        self._spawn(self._in_turn(follow()))

    async def visitor_answer(self, visitor_id: str, account: str) -> dict[str, Any]:
        """Marketo's answer: ``{status: 200, results: {matchedSegments: [{id, name}]}}``,
        without ``matchedSegments`` when none matched; ``{status, error}`` on failure."""
        status, data = await self._ask("api/visitor", visitor_id, account)
        segments = data.get("matchedSegments") if isinstance(data, dict) else None
        if status != 200 or not isinstance(segments, list):
            return {"status": status, "error": _failure(status, data, "visitor")}
        matched = [
            {"id": str(segment.get("id", "")), "name": str(segment.get("name", ""))}
            for segment in segments
            if isinstance(segment, dict)
        ]
        return {"status": 200, "results": {"matchedSegments": matched} if matched else {}}

    async def render_campaigns(
        self, visitor_id: str, account: str, report: Report = lambda *_: None
    ) -> list[str]:
        """Show the first campaign for each zone; return the names of those shown.
        Zones without a campaign keep their own content, and so does a zone whose
        first campaign holds this visitor back (its control group)."""
        status, data = await self._ask("api/campaigns", visitor_id, account)
        campaigns = data.get("campaigns") if isinstance(data, dict) else None
        if status != 200 or not isinstance(campaigns, list):
            self._console.warn(f"rtp: campaigns are not shown: {_failure(status, data, 'campaigns')}")
            self._page.campaigns_answered([])
            return []
        placements: dict[str, Placement] = {}
        for campaign in campaigns:
            placement = self._placement(campaign)
            if placement is not None:
                placements.setdefault(placement.zone, placement)  # the first campaign for a zone wins
        self._placements = list(placements.values())
        self._report = report
        shown = [placement.name for placement in self._placements if self._show(placement)]
        self._page.campaigns_answered(shown)
        if self._placements and not self._watching:
            self._watching = True
            self._page.watch_for_zones(self.fill_new_zones)
        return shown

    def fill_new_zones(self) -> None:
        """Give the last answer's campaigns to zones rendered since (a route of a
        single-page app); never raises into the page's DOM update."""
        try:
            waiting = self._page.unfilled_zones([placement.zone for placement in self._placements])
            for placement in self._placements:
                if placement.zone in waiting:
                    self._show(placement)
        except Exception as error:
            self._console.error(f"rtp: internal error while filling a new zone: {error!r}")

    def _show(self, placement: Placement) -> bool:
        """Fill the placement's zone and report the impression, or, for a visitor in
        the campaign's control group, leave the zone's own content and report that
        exposure; whether the campaign was shown."""
        zone, text, link, name, control = placement
        if control:
            if self._page.has_zone(zone):
                if self._debug:
                    self._debug(f"rtp debug: campaign {name!r} held back in zone #{zone} (control group)")
                self._expose("control", name, self._report)
            return False
        shown = self._page.show_in_zone(zone, text, link, self._on_follow(name, self._report))
        if shown:
            if self._debug:
                self._debug(f"rtp debug: campaign {name!r} shown in zone #{zone}")
            self._expose("impression", name, self._report)
        return shown

    def _expose(self, kind: str, name: str, report: Report) -> None:
        if (kind, name) not in self._exposed:
            self._exposed.add((kind, name))
            report(kind, name, self._clock())

    def _on_follow(self, name: str, report: Report) -> Callable[[], None]:
        def follow() -> None:
            try:
                report("click", name, self._clock())
            except Exception as error:  # a click handler must never throw into the page
                self._console.error(f"rtp: internal error while reporting a click: {error!r}")

        return follow

    def _placement(self, campaign: object) -> Placement | None:
        if not isinstance(campaign, dict):
            return None
        zone, text, link, name = (campaign.get(key) for key in ("zone", "text", "link", "name"))
        if not isinstance(zone, str) or not zone or not isinstance(text, str):
            self._console.error(f"rtp: the collector sent a campaign without a zone or text: {campaign!r}")
            return None
        name = str(name or zone)
        if link is not None and not is_safe_link(link):
            self._console.error(
                f"rtp: campaign {name!r}: link {link!r} is not an http(s) URL; showing its text without the link"
            )
            link = None
        return Placement(zone, text, link, name, campaign.get("group") == "control")

    async def _ask(self, route: str, visitor_id: str, account: str) -> tuple[int, Any]:
        await self._delivered()
        url = urljoin(self._api_url, route) + "?" + urlencode({"visitor_id": visitor_id, "account": account})
        if self._debug:
            self._debug(f"rtp debug: GET {url}")
        try:
            status, data = await self._page.get_json(url)
        except Exception as error:  # a transport that throws is a network failure
            status, data = 0, {"error": str(error)}
        if self._debug:
            answered = f"HTTP {status}" if status else "nothing (network error)"
            self._debug(f"rtp debug: GET {route} answered {answered}: {json.dumps(data)[:300]}")
        return status, data

    async def _delivered(self) -> None:
        """Wait until the events queued before this question reached the collector."""
        deadline = self._clock() + DELIVERY_WAIT
        while self._undelivered() and self._clock() < deadline:
            await self._sleep(DELIVERY_POLL)

    async def _in_turn(self, work: Coroutine[Any, Any, object]) -> None:
        """Run ``work`` after the questions asked before it; report, never raise."""
        if self._turn is None:
            self._turn = asyncio.Lock()
        try:
            async with self._turn:
                await work
        except Exception as error:
            self._console.error(f"rtp: internal error in personalization: {error!r}")


def is_safe_link(link: str) -> bool:
    """Whether ``link`` is a path on the site or an http(s) URL, read as a browser
    reads it (tabs and newlines dropped, control characters trimmed)."""
    cleaned = "".join(char for char in link if char not in "\t\n\r").strip(_C0_AND_SPACE)
    try:
        return urlsplit(cleaned).scheme.lower() in _SAFE_LINK_SCHEMES
    except ValueError:
        return False


def _failure(status: int, data: Any, what: str) -> str:
    reason = data.get("error") if isinstance(data, dict) else None
    if status == 0:
        return f"the collector could not be reached ({reason or 'network error'})"
    if status == 200:
        return f"the collector's {what} answer was not understood"
    return f"the collector answered HTTP {status}" + (f": {reason}" if reason else "")
