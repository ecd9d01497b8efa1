"""Consent and privacy: whether the tag may store and send anything about a visitor.

Decided from the browser's signals (Global Privacy Control, Do Not Track), the
site's consent mode and the visitor's remembered choice, which is the one key
``rtp:privacy`` in ``localStorage``. The states:

- ``TRACKING``: the tag works as usual.
- ``PENDING``: consent is required and not given yet. Nothing is stored or sent;
  calls are held in memory (at most ``MAX_HELD_CALLS``) and run once it is given.
- ``REFUSED``: the visitor refused consent. Calls are dropped; only the refusal is stored.
- ``OPTED_OUT``: the visitor opted out (``rtp('optOut')``, GPC or DNT). Nothing is
  sent but the request that the collector forget the visitor; only that is stored.

Every key the tag writes goes through a ``ConsentedStorage``, which writes nothing
unless the state is ``TRACKING``: whatever module adds a key, it cannot be written
without consent. The tag itself (visitor id, session, outbox) is only built once
tracking is allowed, so no visitor id exists before.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from .protocol import describe
from .storage import Storage

PRIVACY_KEY = "rtp:privacy"
"""The one key kept for a visitor who refused consent or opted out."""
TAG_KEY_PREFIX = "rtp:"
"""Every key the tag (and its loader) writes starts with this."""
MAX_HELD_CALLS = 100
GPC_VALUES = ("ignore",)
"""Accepted values of ``data-gpc`` (leave it out to honour Global Privacy Control)."""


class State(Enum):
    TRACKING = "tracking"
    PENDING = "pending"
    REFUSED = "refused"
    OPTED_OUT = "opted out"


class Console(Protocol):
    def error(self, message: str) -> None: ...

    def warn(self, message: str) -> None: ...


class Dispatcher(Protocol):
    """The tag proper (commands.Tag): runs calls once tracking is allowed."""

    def call_many(self, calls: Sequence[tuple[Sequence[object], Any]]) -> None: ...


Call = tuple[Sequence[object], Any]
"""A call's arguments and its context (where and when it was made)."""


@dataclass(frozen=True)
class PrivacySettings:
    """What the loader found on the page; attributes are None when absent."""

    global_privacy_control: bool = False
    """``navigator.globalPrivacyControl === true``."""
    do_not_track: str | None = None
    """``navigator.doNotTrack``."""
    gpc_attribute: str | None = None
    do_not_track_attribute: str | None = None
    require_consent_attribute: str | None = None


@dataclass(frozen=True)
class Signals:
    """The settings, read: what the browser and the site ask of the tag."""

    opted_out_by_browser: bool
    """GPC (unless the site ignores it) or DNT (when the site honours it)."""
    consent_required: bool


def read_signals(settings: PrivacySettings, console: Console) -> Signals:
    """Read the settings; an unknown ``data-gpc`` is reported and GPC honoured as without it.
    ``data-do-not-track`` and ``data-require-consent`` are boolean attributes: present
    (with any value but ``"false"``) means on."""
    gpc_attribute = settings.gpc_attribute
    if gpc_attribute is not None and gpc_attribute.strip().lower() not in GPC_VALUES:
        console.error(
            f'rtp: data-gpc="{gpc_attribute}" is not understood: the accepted value is "ignore" '
            "(the site's own legal call); leave the attribute out to honour Global Privacy Control"
        )
        gpc_attribute = None
    gpc = settings.global_privacy_control and gpc_attribute is None
    dnt = _on(settings.do_not_track_attribute) and settings.do_not_track == "1"
    return Signals(opted_out_by_browser=gpc or dnt, consent_required=_on(settings.require_consent_attribute))


def _on(attribute: str | None) -> bool:
    return attribute is not None and attribute.strip().lower() != "false"


@dataclass
class PrivacyRecord:
    """The visitor's choices and the forget requests not yet acknowledged, as stored."""

    consent: bool | None = None
    opted_out: bool = False
    forget: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def load(cls, storage: Storage) -> PrivacyRecord:
        raw = storage.get(PRIVACY_KEY)
        try:
            data = json.loads(raw) if raw else {}
            consent = data.get("consent")
            forget = [entry for entry in data.get("forget", []) if isinstance(entry.get("visitor_id"), str)]
            return cls(
                consent=consent if isinstance(consent, bool) else None,
                opted_out=data.get("optedOut") is True,
                forget=forget,
            )
        except (ValueError, AttributeError, TypeError):
            return cls()  # unreadable: as if nothing was chosen (consent mode then waits)

    def save(self, storage: Storage) -> None:
        """Write the record, or remove the key when it holds nothing."""
        data: dict[str, Any] = {}
        if self.consent is not None:
            data["consent"] = self.consent
        if self.opted_out:
            data["optedOut"] = True
        if self.forget:
            data["forget"] = self.forget
        if data:
            storage.set(PRIVACY_KEY, json.dumps(data, separators=(",", ":")))
        else:
            storage.remove(PRIVACY_KEY)


def decide(record: PrivacyRecord, signals: Signals, consent_required: bool) -> State:
    """The state for a visitor: an opt-out (stored or the browser's) wins, then the
    visitor's remembered answer, then the site's consent mode."""
    if record.opted_out or signals.opted_out_by_browser:
        return State.OPTED_OUT
    if record.consent is False:
        return State.REFUSED
    if record.consent is None and consent_required:
        return State.PENDING
    return State.TRACKING


class ConsentedStorage:
    """A Storage that writes and reads nothing unless tracking is allowed; removing is always allowed."""

    def __init__(self, inner: Storage, allowed: Callable[[], bool]) -> None:
        self._inner = inner
        self._allowed = allowed

    def get(self, key: str) -> str | None:
        return self._inner.get(key) if self._allowed() else None

    def set(self, key: str, value: str) -> None:
        if self._allowed():
            self._inner.set(key, value)

    def remove(self, key: str) -> None:
        self._inner.remove(key)

    def keys(self) -> list[str]:
        return self._inner.keys() if self._allowed() else []


def erase_tag_keys(*storages: Storage) -> None:
    """Remove every key the tag wrote (visitor id, session, outbox, saved early calls ...)
    but the privacy record."""
    for storage in storages:
        for key in storage.keys():
            if key.startswith(TAG_KEY_PREFIX) and key != PRIVACY_KEY:
                storage.remove(key)


class Privacy:
    """The consent state machine in front of the tag: privacy commands, held calls,
    and what the other calls do in each state.

    ``make_tag`` builds the tag (visitor id, session, outbox) and is called only when
    tracking is allowed; ``forget(visitor_id)`` asks the collector to forget a visitor.
    """

    COMMANDS = ("consent", "requireConsent", "optOut", "optIn")

    def __init__(
        self,
        local: Storage,
        session: Storage,
        signals: Signals,
        console: Console,
        make_tag: Callable[[], Dispatcher],
        forget: Callable[[str], None],
        stored_visitor_id: Callable[[], str | None],
        max_held: int = MAX_HELD_CALLS,
    ) -> None:
        """``local`` and ``session`` are the unguarded storages (the record lives in
        ``local``); ``stored_visitor_id`` reads the visitor id an earlier page kept."""
        self._local = local
        self._session = session
        self._signals = signals
        self._console = console
        self._make_tag = make_tag
        self._forget = forget
        self._stored_visitor_id = stored_visitor_id
        self._max_held = max_held
        self._consent_required = signals.consent_required
        self._held: list[Call] = []
        self._warned_full = False
        self._started = False
        self.tag: Dispatcher | None = None
        self.state = State.PENDING  # until start(): nothing may be written

    @property
    def tracking(self) -> bool:
        return self.state is State.TRACKING

    def call_many(self, calls: Sequence[Call]) -> None:
        """Handle calls in order; never raises into the page. The first batch (the
        calls made before the runtime was ready) starts the machine: a
        ``requireConsent`` anywhere in it applies before any of its calls."""
        try:
            if not self._started:
                self._start(calls)
            run: list[Call] = []
            for args, context in calls:
                command = args[0] if args else None
                if isinstance(command, str) and command in self.COMMANDS:
                    self._run(run)
                    run = []
                    self._privacy_command(command, args[1:])
                elif self.tracking:
                    run.append((args, context))
                else:
                    self._withhold(args, context)
            self._run(run)
        except Exception as error:  # a bug of ours must still not break the page
            self._console.error(f"rtp: internal error in consent handling: {error!r}")

    def refresh(self) -> None:
        """Another tab changed the record: follow it (an opt-out there stops this tab too)."""
        if self._started:
            self._enter(decide(PrivacyRecord.load(self._local), self._signals, self._consent_required))

    # ---- the machine ------------------------------------------------------------

    def _start(self, calls: Sequence[Call]) -> None:
        self._started = True
        if any(args and args[0] == "requireConsent" for args, _ in calls):
            self._consent_required = True
        record = PrivacyRecord.load(self._local)
        state = decide(record, self._signals, self._consent_required)
        if state is State.OPTED_OUT and self._signals.opted_out_by_browser and not record.opted_out:
            self._forget_stored_visitor()  # tracked before the browser's signal was on
        self._enter(state)

    def _enter(self, state: State) -> None:
        self.state = state
        if state is State.TRACKING:
            if self.tag is None:
                self.tag = self._make_tag()
            held, self._held = self._held, []
            self._run(held)
            return
        self.tag = None
        if state is not State.PENDING:
            self._held = []
        erase_tag_keys(self._local, self._session)  # also what was kept before consent was required

    def _privacy_command(self, command: str, args: Sequence[object]) -> None:
        if command == "consent":
            self._consent(args)
        elif command == "requireConsent":
            self._require_consent()
        elif command == "optOut":
            self._opt_out()
        else:
            self._opt_in()

    def _consent(self, args: Sequence[object]) -> None:
        given = args[0] if args else None
        if not isinstance(given, bool):
            shown = describe(given) if not isinstance(given, str) else repr(given)
            self._console.error(
                f"rtp: rtp('consent', given): given must be true or false, not {shown}: "
                "rtp('consent', true) when the visitor agrees, rtp('consent', false) when they refuse"
            )
            return
        record = PrivacyRecord.load(self._local)
        record.consent = given
        record.save(self._local)
        if not given:
            self._held = []
        self._enter(decide(record, self._signals, self._consent_required))
        if given and self.state is State.OPTED_OUT:
            self._console.warn(
                "rtp: consent is remembered, but the visitor opted out"
                + (" (Global Privacy Control or Do Not Track)" if self._signals.opted_out_by_browser else "")
                + ": nothing is sent"
            )

    def _require_consent(self) -> None:
        if self._consent_required:
            return
        self._consent_required = True
        if self.tracking and PrivacyRecord.load(self._local).consent is None:
            self._console.warn(
                "rtp: rtp('requireConsent') came after the tag had started: call it before any other "
                "call (or put data-require-consent on the script tag); what it stored is removed"
            )
            self._enter(State.PENDING)

    def _opt_out(self) -> None:
        self._forget_stored_visitor()
        record = PrivacyRecord.load(self._local)
        record.opted_out = True
        record.save(self._local)
        self._enter(State.OPTED_OUT)

    def _opt_in(self) -> None:
        record = PrivacyRecord.load(self._local)
        record.opted_out = False
        record.save(self._local)
        if self._signals.opted_out_by_browser:
            self._console.warn(
                "rtp: rtp('optIn'): the browser asks not to be tracked (Global Privacy Control or "
                "Do Not Track), so nothing is sent; a site that may ignore GPC sets data-gpc=\"ignore\""
            )
        self._enter(decide(record, self._signals, self._consent_required))

    def _forget_stored_visitor(self) -> None:
        visitor_id = self._stored_visitor_id()
        if visitor_id:
            self._forget(visitor_id)

    # ---- calls ------------------------------------------------------------------

    def _run(self, calls: list[Call]) -> None:
        if calls and self.tag is not None:
            self.tag.call_many(calls)

    def _withhold(self, args: Sequence[object], context: Any) -> None:
        """A call made without consent: ``get visitor`` is answered at once with no
        segments (a page must not wait on a banner); while consent is pending, the
        others are held, in order; otherwise they are dropped."""
        if len(args) > 1 and args[0] == "get" and args[1] == "visitor":
            callback = args[2] if len(args) > 2 else None
            if not callable(callback):
                self._console.error(
                    f"rtp: rtp('get', 'visitor', callback): callback must be a function, not {describe(callback)}"
                )
                return
            callback({"status": 200, "results": {}})
            return
        if self.state is not State.PENDING:
            return
        self._held.append((args, context))
        if len(self._held) > self._max_held:
            del self._held[0]
            if not self._warned_full:
                self._warned_full = True
                self._console.warn(
                    f"rtp: more than {self._max_held} calls are waiting for consent; the oldest are "
                    "dropped: call rtp('consent', true) or rtp('consent', false) once the visitor answers"
                )
