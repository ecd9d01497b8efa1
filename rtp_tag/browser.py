"""The browser adapter: the only module that touches ``js``.

It translates between the page and the pure core: JavaScript values into plain
Python data, Web Storage and ``fetch`` into the core's protocols, and console
output. Proxies it creates for the page's life (event listeners, the dispatch
function handed to the loader) are kept on purpose and never destroyed.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin

import js
from pyodide.ffi import JsProxy, create_proxy, jsnull, to_js

from .commands import CallContext, Debug, Tag, answer_check_pattern
from .config import LoaderSettings, TagConfig, resolve_config
from .consent import PRIVACY_KEY, ConsentedStorage, Privacy, PrivacySettings, read_signals
from .delivery import Courier, Reply, parse_retry_after
from .forget import ForgetRequests
from .outbox import Outbox
from .personalization import Personalizer
from .rehearsal import rehearse
from .session import VISITOR_KEY, SessionLedger, visitor_id
from .storage import GuardedStorage

MAX_ARRAY_ITEMS = 1000
MAX_DEPTH = 8
REQUEST_TIMEOUT_MS = 10_000
FILLED_ATTRIBUTE = "data-rtp-filled"
"""Set on a zone the tag filled: a zone without it (rendered later) is filled when it appears."""


class Foreign:
    """A JavaScript value that is not plain data (a DOM node, a Date ...)."""

    def __init__(self, description: str) -> None:
        self.description = description


class JsCallback:
    """A page's JavaScript function, callable from Python with plain data."""

    def __init__(self, function: JsProxy, console: _Console) -> None:
        self._function = function
        self._console = console

    def __call__(self, data: Any) -> None:
        try:
            self._function(to_js(data, dict_converter=js.Object.fromEntries))
        except Exception as error:
            self._console.error(f"rtp: the page's callback threw: {error}")


class _Console:
    def __init__(self) -> None:
        self._warned: set[str] = set()

    def error(self, message: str) -> None:
        js.console.error(message)

    def warn(self, message: str) -> None:
        js.console.warn(message)

    def info(self, message: str) -> None:
        js.console.info(message)

    def warn_once(self, topic: str, message: str) -> None:
        if topic not in self._warned:
            self._warned.add(topic)
            self.warn(message)


class _WebStorage:
    """``localStorage`` or ``sessionStorage``, looked up on each use: merely reading
    ``window.sessionStorage`` throws in a sandboxed iframe."""

    def __init__(self, name: str) -> None:
        self._name = name

    def get(self, key: str) -> str | None:
        value = getattr(js, self._name).getItem(key)
        return None if value is None or value is jsnull else str(value)

    def set(self, key: str, value: str) -> None:
        getattr(js, self._name).setItem(key, value)

    def remove(self, key: str) -> None:
        getattr(js, self._name).removeItem(key)

    def open(self) -> None:
        """Look the storage up, reading and writing nothing: in Chromium a page's first
        lookup of ``sessionStorage`` opens it with a round trip to the browser process
        (9 ms, and up to 67 ms on a loaded machine, measured inside a first click)."""
        getattr(js, self._name)

    def keys(self) -> list[str]:
        """One crossing into JavaScript, not one a key: sites keep hundreds of keys.
        (``Object.keys`` leaves out a key named like a Storage method; ours never are.)"""
        return [str(key) for key in js.Object.keys(getattr(js, self._name)).to_py()]


def to_plain(value: Any, console: _Console, depth: int = 0) -> Any:
    """Copy a JavaScript value into str/int/float/bool/None/list/dict, functions
    into callables, and anything else into a ``Foreign`` that names it."""
    if value is None or value is jsnull or isinstance(value, (bool, int, float, str)):
        return None if value is jsnull else value
    if not isinstance(value, JsProxy):
        return Foreign(type(value).__name__)
    if value.typeof == "function":
        return JsCallback(value, console)
    if depth >= MAX_DEPTH:
        return Foreign("a too deeply nested object")
    if js.Array.isArray(value):
        if value.length > MAX_ARRAY_ITEMS:
            return Foreign(f"an array of {value.length} items")
        return [to_plain(item, console, depth + 1) for item in value]
    prototype = js.Object.getPrototypeOf(value)
    if prototype is jsnull or prototype == js.Object.prototype:
        return {
            str(key): to_plain(js.Reflect.get(value, key), console, depth + 1)
            for key in js.Object.keys(value)
        }
    name = getattr(getattr(value, "constructor", None), "name", None) or "object"
    return Foreign(f"a {name}")


def _request_init(**options: Any) -> Any:
    """``fetch`` options as a JavaScript object, with a timeout: a hung request must
    not hold up retries (or, for personalization, the page's zones)."""
    init = to_js(options, dict_converter=js.Object.fromEntries)
    if hasattr(js, "AbortSignal") and hasattr(js.AbortSignal, "timeout"):
        init.signal = js.AbortSignal.timeout(REQUEST_TIMEOUT_MS)
    return init


Transport = Callable[..., Any]
"""The loader's ``post(url, body, dry, timeout_ms)`` (web/rtp.js): starts a POST of ``body`` to the
collector and returns its ``fetch`` promise, or with ``dry`` only builds the request.
Its options are built there from the two strings: ``to_js`` of a dict and the
``AbortSignal`` lookups took 0.2-6 ms of a click in Chromium (bench/README.md). The
loader and this package are built together (the loader names the package by its
hash), so it is always there."""


def _loader_transport(raw: Any) -> Transport:
    return js.Reflect.get(raw, "post")  # type: ignore[no-any-return]


def _poster(url: str, transport: Transport) -> Callable[[str], Any]:
    def post(body: str) -> Any:
        return _reply(transport(url, body, False, REQUEST_TIMEOUT_MS))  # the request starts here, synchronously

    return post


def _preparer(url: str, transport: Transport) -> Callable[[str], object]:
    """Builds a request as ``_poster`` would, and sends nothing (the rehearsal)."""
    return lambda body: transport(url, body, True, REQUEST_TIMEOUT_MS)


async def _reply(pending: Any) -> Reply:
    try:
        response = await pending
    except Exception as error:
        return Reply(0, error=str(error))
    retry_after = parse_retry_after(_text(response.headers.get("Retry-After")), time.time())
    message = ""
    if not response.ok:
        try:
            message = str(json.loads(await response.text()).get("error", ""))
        except Exception:
            message = ""
    return Reply(int(response.status), retry_after, message)


def _text(value: Any) -> str | None:
    return None if value is None or value is jsnull else str(value)


class _DocumentPage:
    """Personalization's view of the page: GET JSON from the collector, write a zone."""

    async def get_json(self, url: str) -> tuple[int, Any]:
        # No custom headers: a simple request, no CORS preflight.
        init = _request_init(method="GET", credentials="omit", mode="cors", cache="no-store")
        try:
            response = await js.fetch(url, init)
            body = str(await response.text())
        except Exception as error:
            return 0, {"error": str(error)}
        try:
            return int(response.status), json.loads(body)
        except ValueError:
            return int(response.status), None

    def has_zone(self, zone_id: str) -> bool:
        zone = js.document.getElementById(zone_id)
        return zone is not None and zone is not jsnull

    def show_in_zone(
        self, zone_id: str, text: str, link: str | None, on_follow: Callable[[], None]
    ) -> bool:
        zone = js.document.getElementById(zone_id)
        if zone is None or zone is jsnull:
            return False
        zone.setAttribute(FILLED_ATTRIBUTE, "")
        if link is not None:
            anchor = js.document.createElement("a")
            anchor.textContent = text
            anchor.href = link
            if str(anchor.protocol) in ("http:", "https:"):  # the browser's own reading of the link
                # Kept for the anchor's life: the click is queued before the browser navigates.
                anchor.addEventListener("click", create_proxy(lambda _event: on_follow()))
                zone.replaceChildren(anchor)
                return True
        zone.textContent = text  # text, never HTML
        return True

    def unfilled_zones(self, zone_ids: list[str]) -> list[str]:
        waiting = []
        for zone_id in zone_ids:
            zone = js.document.getElementById(zone_id)
            if zone is not None and zone is not jsnull and not zone.hasAttribute(FILLED_ATTRIBUTE):
                waiting.append(zone_id)
        return waiting

    def watch_for_zones(self, added: Callable[[], None]) -> None:
        """A MutationObserver for the page's life: its callback runs before the browser
        paints the added nodes, so a late zone never shows its default content."""
        observer = js.MutationObserver.new(create_proxy(lambda _records, _observer: added()))
        options = to_js({"childList": True, "subtree": True}, dict_converter=js.Object.fromEntries)
        observer.observe(js.document.documentElement, options)

    def campaigns_answered(self, shown: list[str]) -> None:
        detail = to_js({"detail": {"shown": shown}}, dict_converter=js.Object.fromEntries)
        js.document.dispatchEvent(js.CustomEvent.new("rtp:campaigns", detail))

    def location(self) -> str:
        return str(js.location.href)

    def redirect(self, url: str) -> None:
        js.location.replace(url)


def _opened_by_another_tab() -> bool:
    """Whether this is the first page of a tab that ``window.open`` (or a link with an
    opener) created: its sessionStorage is a copy of the opener's. A reload or a later
    page of that tab is not (the navigation type or the history length says so)."""
    try:
        opener = js.window.opener
        if opener is None or opener is jsnull or int(js.history.length) != 1:
            return False
        entries = js.performance.getEntriesByType("navigation")
        return int(entries.length) == 0 or str(entries[0].type) == "navigate"
    except Exception:
        return False  # a cross-origin opener or an old browser: keep the stored session


def _schedule(delay: float, callback: Callable[[], None]) -> object:
    return asyncio.get_event_loop().call_later(delay, callback)


def _new_id() -> str:
    return uuid.uuid4().hex


def _field(raw: Any, name: str) -> str | None:
    value = js.Reflect.get(raw, name)
    return None if value is None or value is jsnull else str(value)


def _settings(raw: Any) -> LoaderSettings:
    def field(name: str) -> str | None:
        return _field(raw, name)

    return LoaderSettings(
        script_url=field("scriptUrl") or str(js.location.href),
        page_url=str(js.location.href),
        pod=field("pod"),
        account=field("account"),
        endpoint_attribute=field("endpoint"),
        account_attribute=field("accountAttribute"),
        session_timeout_attribute=field("sessionTimeout"),
        debug=bool(js.Reflect.get(raw, "debug")),
    )


def _privacy_settings(raw: Any) -> PrivacySettings:
    return PrivacySettings(
        global_privacy_control=js.Reflect.get(raw, "globalPrivacyControl") is True,
        do_not_track=_field(raw, "doNotTrack"),
        gpc_attribute=_field(raw, "gpcAttribute"),
        do_not_track_attribute=_field(raw, "doNotTrackAttribute"),
        require_consent_attribute=_field(raw, "requireConsentAttribute"),
    )


def start(raw_settings: Any) -> _Handover:
    """Build the tag for this page; return what the loader hands calls to. The tag
    proper (visitor id, session, outbox) is built only once tracking is allowed."""
    console = _Console()

    def storage_failed(message: str) -> None:
        console.warn_once("storage", f"rtp: {message}")

    web_storages = (_WebStorage("sessionStorage"), _WebStorage("localStorage"))
    session_storage = GuardedStorage(web_storages[0], "sessionStorage", storage_failed)
    local_storage = GuardedStorage(web_storages[1], "localStorage", storage_failed)
    config = resolve_config(_settings(raw_settings), lambda message: console.warn(f"rtp: {message}"))
    transport = _loader_transport(raw_settings)
    report = lambda message: console.error(f"rtp: {message}")  # noqa: E731
    debug = console.info if config.debug else None

    def make_tag() -> Tag:
        allowed = lambda: privacy.tracking  # noqa: E731
        local = ConsentedStorage(local_storage, allowed)
        outbox = Outbox(local, owner=_new_id())
        courier = Courier(
            outbox, _poster(config.collect_url, transport), clock=time.time, schedule=_schedule, report=report,
            debug=debug,
        )
        tag = Tag(
            config=config,
            ledger=SessionLedger(
                ConsentedStorage(session_storage, allowed),
                _new_id,
                config.session_timeout,
                copied_from_opener=_opened_by_another_tab(),
            ),
            visitor_id=visitor_id(local, _new_id),
            outbox=outbox,
            courier=courier,
            console=console,
            new_id=_new_id,
            personalization=Personalizer(
                config.api_url, _DocumentPage(), console, undelivered=lambda: len(outbox), clock=time.time, debug=debug
            ),
            debug=debug,
        )
        courier.flush()  # what earlier pages left undelivered goes first
        return tag

    def events_in_flight() -> bool:
        tag = running()
        return tag is not None and tag.courier.in_flight

    forget_requests = ForgetRequests(local_storage, events_in_flight)
    forget_courier = Courier(
        forget_requests, _poster(urljoin(config.api_url, "forget"), transport), clock=time.time, schedule=_schedule,
        report=report,
    )

    def forget(visitor: str) -> None:
        forget_requests.add(visitor, time.time())
        forget_courier.flush()

    privacy = Privacy(
        local_storage,
        session_storage,
        read_signals(_privacy_settings(raw_settings), console),
        console,
        make_tag=make_tag,
        forget=forget,
        stored_visitor_id=lambda: local_storage.get(VISITOR_KEY),
    )

    def running() -> Tag | None:
        return privacy.tag if isinstance(privacy.tag, Tag) else None

    def on_online(_event: Any) -> None:
        forget_courier.retry_now()
        if tag := running():
            tag.courier.retry_now()

    def on_pagehide(_event: Any) -> None:
        if tag := running():
            tag.outbox.release()

    def on_pageshow(event: Any) -> None:
        if event.persisted and (tag := running()):
            tag.courier.flush()

    def on_storage(event: Any) -> None:
        if _text(event.key) in (PRIVACY_KEY, None):  # None: the site cleared its storage
            privacy.refresh()

    for name, listener in (
        ("online", on_online), ("pagehide", on_pagehide), ("pageshow", on_pageshow), ("storage", on_storage)
    ):
        js.addEventListener(name, create_proxy(listener))
    forget_courier.flush()  # forget requests an earlier page could not deliver
    return _Handover(privacy, console, debug, config, web_storages, _preparer(config.collect_url, transport))


class _Handover:
    """What the loader calls: one call, or the calls queued before the runtime was ready."""

    def __init__(
        self,
        tag: Privacy,
        console: _Console,
        debug: Debug,
        config: TagConfig,
        storages: tuple[_WebStorage, ...],
        prepare: Callable[[str], object],
    ) -> None:
        self._tag = tag
        self._console = console
        self._debug = debug
        self._config = config
        self._storages = storages
        self._prepare = prepare

    def check_pattern(self, text: Any, pattern: Any) -> bool:
        """``rtp.checkPattern``, answered synchronously by the core once it is ready."""
        try:
            return answer_check_pattern(to_plain(text, self._console), to_plain(pattern, self._console),
                                        self._console, self._debug)
        except Exception as error:
            self._console.error(f"rtp: internal error in rtp.checkPattern: {error!r}")
            return False

    def call(self, args: Any, meta: Any) -> None:
        self._tag.call_many(self._read([(args, meta)]))

    def send_value(self, value: Any, url: Any, referrer: Any, ts: Any, call_id: Any) -> None:
        """A ``data-rtp-event`` click, ``rtp('send', 'event', {value})``, handed over by the
        loader as plain strings and a number: no JavaScript object to walk through proxies
        (the click's costliest step after the browser's own, measured in bench/README.md)."""
        try:
            call = (["send", "event", {"value": _text(value)}], _call_context(url, referrer, ts, call_id))
        except Exception as error:
            self._console.error(f"rtp: could not read a call's arguments: {error}")
            return
        self._tag.call_many([call])

    def call_many(self, records: Any) -> None:
        """``records`` is a JavaScript array of ``{args, meta}``."""
        pairs = [(js.Reflect.get(record, "args"), js.Reflect.get(record, "meta")) for record in records]
        self._tag.call_many(self._read(pairs))

    def rehearse(self, args: Any, meta: Any) -> None:
        """A dry run of one call's path (rehearsal.py): stores nothing, sends nothing.
        The Web Storages are opened too, neither read nor written."""
        for storage in self._storages:
            try:
                storage.open()
            except Exception:
                pass  # refused (a sandboxed frame): GuardedStorage copes on first use
        try:
            rehearse(self._config, self._read([(args, meta)]), self._prepare, time.time)
        except Exception as error:
            self._console.error(f"rtp: internal error in the rehearsal: {error!r}")

    def _read(self, pairs: list[tuple[Any, Any]]) -> list[tuple[Any, CallContext]]:
        calls = []
        for args, meta in pairs:
            try:
                calls.append((to_plain(args, self._console), _context(meta)))
            except Exception as error:
                self._console.error(f"rtp: could not read a call's arguments: {error}")
        return calls


def _context(meta: Any) -> CallContext:
    return _call_context(
        js.Reflect.get(meta, "url"), js.Reflect.get(meta, "referrer"), js.Reflect.get(meta, "ts"),
        js.Reflect.get(meta, "id"),
    )


def _call_context(url: Any, referrer: Any, ts: Any, call_id: Any) -> CallContext:
    """A call's context from the loader's ``meta()`` fields (``ts`` in milliseconds)."""
    return CallContext(url=str(url), referrer=_text(referrer) or "", ts=float(ts) / 1000, call_id=_text(call_id))
