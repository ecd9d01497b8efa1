"""``rtp(...)``: the dispatcher, one handler per command, looked up in a table.

Every call is handled completely or refused with one ``rtp: ...`` console error;
nothing is ever raised into the page.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

from .config import TagConfig
from .custom_data import values_from_custom_data
from .delivery import Courier
from .outbox import Outbox
from .pattern import check_pattern
from .protocol import CUSTOM_VARS, MAX_ACCOUNT_LENGTH, MAX_CUSTOM_VAR_LENGTH, MAX_URL_LENGTH, ProtocolError, describe
from .redirect import RedirectError, RedirectRule, parse_redirect
from .session import SessionLedger


class Console(Protocol):
    def error(self, message: str) -> None: ...

    def warn(self, message: str) -> None: ...


Debug = Callable[[str], None] | None
"""Where the debug view's lines go (``console.info``), or None when it is off: every
debug line is built behind an ``if debug`` so that off costs nothing."""


class Personalization(Protocol):
    """The page-facing half of ``rtp('get', ...)``; see personalization.py."""

    def show_campaigns(
        self, visitor_id: str, account: str, report: Callable[[str, str, float], None]
    ) -> None: ...

    def visitor(self, visitor_id: str, account: str, callback: Callable[[Any], object]) -> None: ...

    def redirect(self, visitor_id: str, account: str, rule: RedirectRule) -> None: ...


@dataclass(frozen=True)
class CallContext:
    """Where and when a call was made: replayed early calls keep their own page and time."""

    url: str
    referrer: str
    ts: float
    call_id: str | None = None


class CallError(ValueError):
    """A call the tag refuses; the message is shown as ``rtp: <message>``."""


@dataclass
class Tag:
    config: TagConfig
    ledger: SessionLedger
    visitor_id: str
    outbox: Outbox
    courier: Courier
    console: Console
    new_id: Callable[[], str]
    personalization: Personalization | None = None
    clock: Callable[[], float] = time.time
    """The current time: the outbox's lease is written from it, never from a call's
    ``ts`` (a replayed call's is old, and a lease born expired lets another tab take
    this live tab's events)."""
    debug: Debug = None
    account: str = field(init=False)
    custom_vars: dict[str, str] = field(init=False, default_factory=dict)
    """``rtp('set', 'customVarN', value)`` values waiting for the next view."""

    def __post_init__(self) -> None:
        self.account = self.config.account

    def call(self, args: Sequence[object], context: CallContext) -> None:
        """Run one ``rtp(...)`` call; report any problem on the console instead of raising."""
        self.call_many([(args, context)])

    def call_many(self, calls: Sequence[tuple[Sequence[object], CallContext]]) -> None:
        """Run calls in order, then start delivery once, so events queued together
        (the calls made before the runtime was ready) travel in one request."""
        for args, context in calls:
            try:
                handler, rest = _lookup(args)
                outcome = handler(self, rest, context)
                if self.debug:
                    self.debug(f"rtp debug: {_show(args)}: {outcome or 'accepted'}")
            except (CallError, ProtocolError, RedirectError) as error:
                self.console.error(f"rtp: {error}")
                if self.debug:
                    self.debug(f"rtp debug: {_show(args)}: refused: {error}")
            except Exception as error:  # a bug of ours must still not break the page
                self.console.error(f"rtp: internal error while handling {_show(args)}: {error!r}")
        try:
            self.courier.flush()
        except Exception as error:
            self.console.error(f"rtp: internal error while sending: {error!r}")

    def send_event(self, args: Sequence[object], context: CallContext) -> str | None:
        if not args:
            raise CallError(
                "rtp('send', 'event', customData) needs customData, e.g. {value: 'MyEvent'}"
            )
        values = values_from_custom_data(args[0])
        session_id, fresh = self.ledger.count_new(values, context.ts)
        if fresh:
            self._enqueue("event", list(fresh), context, context.url, session_id)
        before = [value for value in values if value not in fresh]
        if not before:
            return None
        counted = "counted before in this session, not sent again: " + ", ".join(map(repr, before))
        return counted if not fresh else "accepted " + ", ".join(map(repr, fresh)) + "; " + counted

    def send_view(self, args: Sequence[object], context: CallContext) -> None:
        page = context.url
        if args and args[0] is not None:
            if not isinstance(args[0], str) or not args[0].strip():
                raise CallError(
                    f"rtp('send', 'view', page): page must be a path or URL string, "
                    f"not {describe(args[0])}"
                )
            page = urljoin(context.url, args[0].strip())
            if urlsplit(page).scheme not in ("http", "https") or len(page) > MAX_URL_LENGTH:
                raise CallError(f"rtp('send', 'view', page): {args[0]!r} is not a page URL")
        props, self.custom_vars = self.custom_vars, {}
        self._enqueue("view", [], context, page, self.ledger.touch(context.ts), props)

    def set_custom_var(self, name: str, args: Sequence[object]) -> None:
        value = args[0] if args else None
        if not isinstance(value, str):
            raise CallError(f"rtp('set', {name!r}, value): value must be a string, not {describe(value)}")
        if len(value) > MAX_CUSTOM_VAR_LENGTH:
            raise CallError(
                f"rtp('set', {name!r}, value): value is {len(value)} characters long; "
                f"at most {MAX_CUSTOM_VAR_LENGTH} are allowed"
            )
        self.custom_vars[name] = value

    def send_redirect(self, args: Sequence[object], context: CallContext) -> str:
        rule = parse_redirect(args, context.url)
        self._personalization().redirect(self.visitor_id, self.account, rule)
        return "accepted; decided once the visitor's segments are known"

    def check_pattern(self, text: object, pattern: object) -> bool:
        return answer_check_pattern(text, pattern, self.console, self.debug)

    def set_account(self, args: Sequence[object], context: CallContext) -> None:
        account = args[0] if args else None
        if not isinstance(account, str):
            raise CallError(f"rtp('setAccount', id): id must be a string, not {describe(account)}")
        if not account.strip():
            raise CallError("rtp('setAccount', id): id is an empty string: give the account id")
        if len(account) > MAX_ACCOUNT_LENGTH:
            raise CallError(f"rtp('setAccount', id): id is longer than {MAX_ACCOUNT_LENGTH} characters")
        self.account = account.strip()

    def get_campaign(self, args: Sequence[object], context: CallContext) -> None:
        def report(kind: str, campaign: str, ts: float) -> None:
            self.report_campaign(kind, campaign, replace(context, ts=ts, call_id=None))

        self._personalization().show_campaigns(self.visitor_id, self.account, report)

    def report_campaign(self, kind: str, campaign: str, context: CallContext) -> None:
        """Queue and send an impression, click or control exposure of ``campaign``, made
        on the page of ``context``. Called after the call that showed the campaign has
        returned, so it reports its own problems instead of raising."""
        try:
            self._enqueue(kind, [], context, context.url, self.ledger.touch(context.ts), {"campaign": campaign})
            self.courier.flush()
        except Exception as error:
            self.console.error(f"rtp: internal error while reporting a campaign {kind}: {error!r}")

    def get_visitor(self, args: Sequence[object], context: CallContext) -> None:
        callback = args[0] if args else None
        if not callable(callback):
            raise CallError(
                f"rtp('get', 'visitor', callback): callback must be a function, not {describe(callback)}"
            )
        self._personalization().visitor(self.visitor_id, self.account, callback)

    def _personalization(self) -> Personalization:
        if self.personalization is None:
            raise CallError("personalization is not available on this page")
        return self.personalization

    def _enqueue(
        self,
        kind: str,
        values: list[str],
        context: CallContext,
        url: str,
        session_id: str,
        props: dict[str, str] | None = None,
    ) -> None:
        event = {
            "type": kind,
            "values": values,
            "event_id": context.call_id or self.new_id(),
            "session_id": session_id,
            "visitor_id": self.visitor_id,
            "account": self.account,
            "url": url[:MAX_URL_LENGTH],
            "referrer": context.referrer[:MAX_URL_LENGTH],
            "ts": int(context.ts * 1000),
        }
        if props:
            event["props"] = props
        self.outbox.add(event, self.clock())


def answer_check_pattern(text: object, pattern: object, console: Console, debug: Debug) -> bool:
    """``rtp.checkPattern(str, pattern)``: needs no visitor state, so it answers with or
    without tracking consent; anything but two strings is false, with an error."""
    if not isinstance(text, str) or not isinstance(pattern, str):
        console.error(
            f"rtp: rtp.checkPattern(str, pattern) compares two strings, not {describe(text)} "
            f"and {describe(pattern)}; answered false"
        )
    matched = check_pattern(text, pattern)
    if debug:
        debug(f"rtp debug: rtp.checkPattern({text!r}, {pattern!r}): {str(matched).lower()}")
    return matched


Handler = Callable[[Tag, Sequence[object], CallContext], "str | None"]
"""Handles a call's arguments; may return what became of it, for the debug view."""


def _custom_var_setter(name: str) -> Handler:
    return lambda tag, args, context: tag.set_custom_var(name, args)


def _not_supported(what: str) -> Handler:
    """A command of the reference's API that rtp-tag does not offer: a clear refusal."""

    def refuse(tag: Tag, args: Sequence[object], context: CallContext) -> None:
        raise CallError(f"{what} are not supported by rtp-tag; the call was ignored")

    return refuse


COMMANDS: dict[tuple[str, str | None], Handler] = {
    ("send", "event"): Tag.send_event,
    ("send", "view"): Tag.send_view,
    ("send", "redirect"): Tag.send_redirect,
    ("setAccount", None): Tag.set_account,
    ("get", "campaign"): Tag.get_campaign,
    ("get", "visitor"): Tag.get_visitor,
    **{("set", name): _custom_var_setter(name) for name in CUSTOM_VARS},
    ("get", "rcmd"): _not_supported("content recommendations (rtp('get', 'rcmd', ...))"),
    ("set", "rcmd"): _not_supported("content recommendations (rtp('set', 'rcmd', ...))"),
    ("userContextReady", None): _not_supported("user context callbacks (rtp('userContextReady', fn))"),
}
"""Commands named by one word take their arguments after it; the others after two."""


def _lookup(args: Sequence[object]) -> tuple[Handler, Sequence[object]]:
    if not args:
        raise CallError("rtp() needs a command, e.g. rtp('send', 'event', {value: 'MyEvent'})")
    action = args[0]
    if not isinstance(action, str):
        raise CallError(f"the command must be a string, not {describe(action)}: {_known()}")
    if (action, None) in COMMANDS:
        return COMMANDS[(action, None)], args[1:]
    name = args[1] if len(args) > 1 else None
    if isinstance(name, str) and (action, name) in COMMANDS:
        return COMMANDS[(action, name)], args[2:]
    shown = ", ".join(repr(a) if isinstance(a, str) else describe(a) for a in args[:2])
    raise CallError(f"unknown command rtp({shown}, ...): {_known()}")


def _known() -> str:
    names = [f"'{a}', '{b}'" if b else f"'{a}'" for a, b in COMMANDS if b not in CUSTOM_VARS[1:]]
    return "known commands are " + "; ".join(names).replace("'customVar1'", "'customVar1' ... 'customVar5'")


def _show(args: Sequence[object]) -> str:
    return "rtp(" + ", ".join(repr(a) if isinstance(a, str) else describe(a) for a in args[:3]) + ")"
