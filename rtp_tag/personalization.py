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
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol
from urllib.parse import urlencode, urljoin, urlsplit

from .commands import Console

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
        calling ``on_follow`` when the visitor follows it), never parsed as HTML;
        False when the page has no element with that id."""
        ...

    def has_zone(self, zone_id: str) -> bool:
        """Whether the page has an element with that id."""
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
    ) -> None:
        self._api_url = api_url
        self._page = page
        self._console = console
        self._undelivered = undelivered
        self._clock = clock
        self._sleep = sleep
        self._spawn = spawn
        self._turn: asyncio.Lock | None = None
        self._exposed: set[tuple[str, str]] = set()
        """(kind, campaign) reported on this page: an exposure counts once per page."""

    def show_campaigns(self, visitor_id: str, account: str, report: Report = lambda *_: None) -> None:
        self._spawn(self._in_turn(self.render_campaigns(visitor_id, account, report)))

    def visitor(self, visitor_id: str, account: str, callback: Callable[[Any], object]) -> None:
        async def answer() -> None:
            callback(await self.visitor_answer(visitor_id, account))

        self._spawn(self._in_turn(answer()))

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
            return []
        shown: list[str] = []
        filled: set[str] = set()
        for campaign in campaigns:
            placement = self._placement(campaign)
            if placement is None or placement[0] in filled:
                continue
            zone, text, link, name = placement
            if campaign.get("group") == "control":
                if self._page.has_zone(zone):
                    filled.add(zone)
                    self._expose("control", name, report)
            elif self._page.show_in_zone(zone, text, link, self._on_follow(name, report)):
                filled.add(zone)
                shown.append(name)
                self._expose("impression", name, report)
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

    def _placement(self, campaign: object) -> tuple[str, str, str | None, str] | None:
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
        return zone, text, link, name

    async def _ask(self, route: str, visitor_id: str, account: str) -> tuple[int, Any]:
        await self._delivered()
        url = urljoin(self._api_url, route) + "?" + urlencode({"visitor_id": visitor_id, "account": account})
        try:
            return await self._page.get_json(url)
        except Exception as error:  # a transport that throws is a network failure
            return 0, {"error": str(error)}

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
