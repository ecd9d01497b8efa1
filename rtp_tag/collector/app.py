"""The collector's HTTP routes (one table, ``ROUTES``) and the app factory.

Endpoints are plain async functions; what they share (the store, the campaigns in
force, who may read, the rate limiter) is on ``request.app.state``, set by
``create_app``. Each row of the table says who may call it: ``tag_api`` (pages of the
allowed origins, with CORS) or ``read_api`` (holders of a read key, no CORS).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route

from ..protocol import MAX_ACCOUNT_LENGTH, MAX_BODY_BYTES, MAX_ID_LENGTH, ProtocolError, check_event
from .access import CLOSED, Access, read_api, tag_api
from .answers import error
from .assets import Assets
from .campaigns import EMPTY_CONFIG, CampaignConfig
from .dashboard import DashboardFiles
from .devices import device_class
from .holdout import group_of
from .limits import DEFAULT_EVENTS_PER_MINUTE, EventRateLimiter, client_address, retry_after
from .profile import VisitorProfile
from .reports import ReportQueryError, build_report, campaign_csv, report_query
from .retention import keep_purging, purge
from .segments import campaigns_to_show, matched_segments
from .stores import MAX_PAGE, Store, StoreBusy, StoreUnavailable, UnknownCursor

BUSY_RETRY_AFTER = 2
"""Seconds a client is told to wait (``Retry-After``) while the store is busy."""
DEFAULT_PAGE = 1_000
"""Events in an ``/api/events`` page without ``?limit=`` (at most ``stores.MAX_PAGE``)."""
MAX_FORGET_BYTES = 1024
"""A forget request is ``{"visitor_id": ...}``: anything much larger is not one."""
LEGACY_PREFIX = "/rtp-api/v1"
"""Where the reference's older snippet loads the tag from (``//HOST/rtp-api/v1/rtp.js``)."""


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing it as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise BodyTooLarge
    return bytes(body)


def parse_events(body: bytes) -> list[dict[str, Any]]:
    """A JSON event or array of events, each checked by the tag's own rules."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except RecursionError:
        raise ProtocolError("the body's JSON is nested too deeply: send flat event objects") from None
    except (UnicodeDecodeError, ValueError) as problem:
        raise ProtocolError(f"the body is not valid JSON: {problem}") from None
    try:  # a lone surrogate escape ("\\ud800") is valid JSON but not storable or listable text
        json.dumps(payload, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ProtocolError("the body holds a lone UTF-16 surrogate escape: send valid Unicode text") from None
    if isinstance(payload, dict):
        payload = [payload]
    if not isinstance(payload, list) or not payload:
        raise ProtocolError("send a JSON event object or a non-empty array of them")
    events = []
    for index, event in enumerate(payload):
        try:
            events.append(check_event(event))
        except ProtocolError as problem:
            raise ProtocolError(f"event {index}: {problem}") from None
    return events


def visitor_query(request: Request) -> tuple[str, str | None]:
    """``visitor_id`` (required) and ``account`` (optional) of a personalization request."""
    visitor = request.query_params.get("visitor_id", "")
    account = request.query_params.get("account")
    if not visitor or len(visitor) > MAX_ID_LENGTH:
        raise ProtocolError(f"give ?visitor_id= (1 to {MAX_ID_LENGTH} characters), the tag's visitor id")
    if account is not None and len(account) > MAX_ACCOUNT_LENGTH:
        raise ProtocolError(f"account is longer than {MAX_ACCOUNT_LENGTH} characters")
    return visitor, account


def personal(data: dict[str, Any]) -> JSONResponse:
    """An answer about one visitor: never cached, it changes with each event."""
    return JSONResponse(data, headers={"Cache-Control": "no-store"})


async def _about_visitor(
    request: Request, answer: Callable[[CampaignConfig, VisitorProfile, str, str], dict[str, Any]]
) -> Response:
    """``answer`` over the visitor's profile and the device asking now (its User-Agent)."""
    try:
        visitor, account = visitor_query(request)
    except ProtocolError as problem:
        return error(400, str(problem))
    state = request.app.state
    config = state.campaigns()
    try:
        profile = await run_in_threadpool(state.store.profile, visitor, account or "")
    except StoreUnavailable as problem:
        return unavailable(problem)
    return personal(answer(config, profile, device_class(request.headers.get("user-agent")), visitor))


async def visitor_segments(request: Request) -> Response:
    """``GET /api/visitor``: the segments the visitor is in now."""
    return await _about_visitor(
        request,
        lambda config, profile, device, _visitor: {
            "matchedSegments": [{"id": s.id, "name": s.name} for s in matched_segments(config, profile, device)]
        },
    )


async def visitor_campaigns(request: Request) -> Response:
    """``GET /api/campaigns``: the campaigns to show the visitor now; ``group`` is
    ``control`` where the campaign's holdout keeps this visitor on the default content."""
    return await _about_visitor(
        request,
        lambda config, profile, device, visitor: {
            "campaigns": [
                {"name": c.name, "zone": c.zone, "text": c.text, "link": c.link, "group": group_of(c, visitor)}
                for c in campaigns_to_show(config, profile, device)
            ]
        },
    )


async def collect(request: Request) -> Response:
    """``POST /collect``: store an event or an array of events, each once."""
    try:
        body = await read_body(request, MAX_BODY_BYTES)
    except BodyTooLarge:
        return error(413, f"the body is larger than {MAX_BODY_BYTES} bytes: send fewer events per request")
    try:
        events = parse_events(body)
    except ProtocolError as problem:
        return error(400, str(problem))
    state = request.app.state
    limiter: EventRateLimiter = state.limiter
    wait = limiter.admit(client_address(request, state.trust_proxy), len(events))
    if wait is not None:
        return error(
            429,
            f"more than {limiter.limit} events in {limiter.window:g} s from your address: "
            "send them again after the Retry-After delay",
            {"Retry-After": retry_after(wait)},
        )
    try:
        stored = await run_in_threadpool(state.store.add, events)
    except StoreBusy:
        return busy()
    except StoreUnavailable as problem:
        return unavailable(problem)
    return JSONResponse({"stored": stored, "duplicates": len(events) - stored})


def busy() -> Response:
    return error(
        503, "the event store is busy: retry after the Retry-After delay", {"Retry-After": str(BUSY_RETRY_AFTER)}
    )


def unavailable(problem: Exception) -> Response:
    """503 for a lost database; the tag's endpoints answer it themselves so it carries their CORS."""
    return error(
        503,
        f"the event store is unavailable ({problem}): retry after the Retry-After delay",
        {"Retry-After": str(BUSY_RETRY_AFTER)},
    )


def parse_forget(body: bytes) -> str:
    """The visitor id of a forget request: ``{"visitor_id": "..."}``."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ProtocolError('the body is not valid JSON: send {"visitor_id": "..."}') from None
    visitor = payload.get("visitor_id") if isinstance(payload, dict) else None
    if not isinstance(visitor, str) or not visitor.strip() or len(visitor) > MAX_ID_LENGTH:
        raise ProtocolError(
            f'send {{"visitor_id": "..."}} with the visitor id the tag holds (1 to {MAX_ID_LENGTH} characters)'
        )
    return visitor


async def forget(request: Request) -> Response:
    """``POST /forget``: delete one visitor's events and derived state (the tag's opt-out).
    No read key: the caller proves who it is with the visitor id it holds, which is
    random and never shown to others; the answer tells only how many events went."""
    try:
        body = await read_body(request, MAX_FORGET_BYTES)
    except BodyTooLarge:
        return error(413, f'the body is larger than {MAX_FORGET_BYTES} bytes: send {{"visitor_id": "..."}} only')
    try:
        visitor = parse_forget(body)
    except ProtocolError as problem:
        return error(400, str(problem))
    try:
        deleted = await run_in_threadpool(request.app.state.store.delete_visitor, visitor)
    except StoreBusy:
        return busy()
    except StoreUnavailable as problem:
        return unavailable(problem)
    return JSONResponse({"forgotten": deleted})


def _whole_number(text: str) -> int | None:
    """``text`` as a non-negative integer of at most 18 digits, or None."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def page_query(request: Request) -> tuple[str | None, int, int]:
    """``visitor_id``, ``after`` and ``limit`` of an ``/api/events`` request."""
    query = request.query_params
    visitor = query.get("visitor_id")
    if visitor is not None and not 0 < len(visitor) <= MAX_ID_LENGTH:
        raise ProtocolError(f"visitor_id must be 1 to {MAX_ID_LENGTH} characters")
    after = _whole_number(query.get("after", "0"))
    if after is None:
        raise ProtocolError(
            f"after must be the seq of an event or the next of an earlier answer, not {query['after']!r}"
        )
    limit = _whole_number(query.get("limit", str(DEFAULT_PAGE)))
    if limit is None or not 1 <= limit <= MAX_PAGE:
        raise ProtocolError(f"limit must be a whole number from 1 to {MAX_PAGE}, not {query['limit']!r}")
    return visitor, after, limit


async def list_events(request: Request) -> Response:
    """``GET /api/events``: a page of stored events, oldest first, and the cursor to the
    next page (``next``: null once there is no more). With ``?latest=N`` (and optionally
    ``&account=A``): the newest N events instead, oldest first, for a live view."""
    if "latest" in request.query_params:
        return await _latest_events(request)
    try:
        visitor, after, limit = page_query(request)
    except ProtocolError as problem:
        return error(400, str(problem))
    try:
        rows = await run_in_threadpool(request.app.state.store.events, visitor, after, limit + 1)
    except UnknownCursor as problem:
        return error(400, f"after: {problem}; pass a seq or next from an earlier answer")
    more = len(rows) > limit
    rows = rows[:limit]
    return JSONResponse({"events": rows, "next": rows[-1]["seq"] if more else None})


async def _latest_events(request: Request) -> Response:
    query = request.query_params
    latest = _whole_number(query["latest"])
    if latest is None or not 1 <= latest <= MAX_PAGE:
        return error(400, f"latest must be a whole number from 1 to {MAX_PAGE}, not {query['latest']!r}")
    account = query.get("account")
    if account is not None and len(account) > MAX_ACCOUNT_LENGTH:
        return error(400, f"account is longer than {MAX_ACCOUNT_LENGTH} characters")
    rows = await run_in_threadpool(request.app.state.store.latest_events, latest, account)
    return JSONResponse({"events": rows})


async def _report_figures(request: Request) -> dict[str, Any] | Response:
    """The report the query asks for, or the 400 answer saying what to fix."""
    try:
        account, days = report_query(request.query_params)
    except ReportQueryError as problem:
        return error(400, str(problem))
    state = request.app.state
    return await run_in_threadpool(build_report, state.store, state.campaigns(), account, days)


async def report(request: Request) -> Response:
    """``GET /api/report?account=A&days=30``: campaigns, segments and values of the period."""
    figures = await _report_figures(request)
    if isinstance(figures, Response):
        return figures
    return JSONResponse(figures, headers={"Cache-Control": "no-store"})


async def report_csv(request: Request) -> Response:
    """``GET /api/report.csv?...``: the report's campaign table as CSV."""
    figures = await _report_figures(request)
    if isinstance(figures, Response):
        return figures
    return Response(
        campaign_csv(figures),
        media_type="text/csv; charset=utf-8",
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="rtp-report-{figures["days"]}d.csv"',
        },
    )


async def store_unavailable(request: Request, problem: Exception) -> Response:
    """The database is lost (down, restarting, unreachable): retry; the store reconnects by itself."""
    return unavailable(problem)


async def erase_visitor(request: Request) -> Response:
    """``DELETE /api/visitors/V``: delete every stored trace of visitor V (erasure)."""
    visitor = request.path_params["visitor_id"]
    if not 0 < len(visitor) <= MAX_ID_LENGTH:
        return error(400, f"give the visitor id (1 to {MAX_ID_LENGTH} characters): DELETE /api/visitors/ID")
    try:
        deleted = await run_in_threadpool(request.app.state.store.delete_visitor, visitor)
    except StoreBusy:
        return busy()
    return JSONResponse({"deleted": deleted})


async def no_such_api(request: Request) -> Response:
    """The last row: 405 naming the methods when the path is known, else 404."""
    allowed = sorted({
        method
        for route in ROUTES
        if isinstance(route, Route) and route.endpoint is not no_such_api and route.methods
        and route.matches(request.scope)[0] is Match.PARTIAL
        for method in route.methods - {"HEAD", "OPTIONS"}
    })
    if allowed:
        methods = ", ".join(allowed)
        return error(405, f"{request.method} is not allowed at {request.url.path}: use {methods}", {"Allow": methods})
    return error(404, f"no API at {request.url.path}")


ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

ROUTES: list[BaseRoute] = [
    Route("/collect", tag_api(collect, origin_required=True), methods=["POST", "OPTIONS"]),
    Route("/forget", tag_api(forget, origin_required=True), methods=["POST", "OPTIONS"]),
    Route("/api/visitor", tag_api(visitor_segments), methods=["GET", "OPTIONS"]),
    Route("/api/campaigns", tag_api(visitor_campaigns), methods=["GET", "OPTIONS"]),
    Route("/api/events", read_api(list_events), methods=["GET"]),
    Route("/api/visitors/{visitor_id:path}", read_api(erase_visitor), methods=["DELETE"]),
    Route("/api/report", read_api(report), methods=["GET"]),
    Route("/api/report.csv", read_api(report_csv), methods=["GET"]),
    Route("/dashboard", lambda _request: RedirectResponse("/dashboard/")),
    Route("/collect", no_such_api, methods=ANY_METHOD),
    Route("/forget", no_such_api, methods=ANY_METHOD),
    Route("/api/{rest:path}", no_such_api, methods=ANY_METHOD),
]
"""The API, one row an endpoint; the built tag is mounted after it (see ``create_app``)."""


def create_app(
    store: Store,
    dist: Path,
    campaigns: Callable[[], CampaignConfig] = lambda: EMPTY_CONFIG,
    *,
    access: Access = CLOSED,
    limiter: EventRateLimiter | None = None,
    trust_proxy: bool = False,
    retain_days: float | None = None,
    say: Callable[[str], None] = lambda message: print(message, file=sys.stderr, flush=True),
) -> Starlette:
    """The collector as an ASGI app over ``store``, serving the built tag from ``dist``;
    ``campaigns`` gives the segments and campaigns in force at each request. Reads need
    a key of ``access`` (none by default: closed), ``limiter`` caps events per address
    (3,000 a minute by default), ``retain_days`` deletes older events at start and hourly."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        purging = None
        if retain_days is not None:
            await purge(store, retain_days, say)
            purging = asyncio.create_task(keep_purging(store, retain_days, say))
        yield
        if purging is not None:
            purging.cancel()

    # The tag's own files are public, for pages of any origin.
    assets = CORSMiddleware(
        Assets(dist), allow_origins=["*"], allow_methods=["GET"], expose_headers=["Retry-After"], max_age=86400
    )
    routes = [
        *ROUTES,
        Mount("/dashboard", app=DashboardFiles()),
        Mount(LEGACY_PREFIX, app=assets),
        Mount("/", app=assets),
    ]
    app = Starlette(
        routes=routes, lifespan=lifespan, exception_handlers={StoreUnavailable: store_unavailable}
    )
    app.state.store = store
    app.state.campaigns = campaigns
    app.state.access = access
    app.state.limiter = limiter or EventRateLimiter(DEFAULT_EVENTS_PER_MINUTE)
    app.state.trust_proxy = trust_proxy
    return app
