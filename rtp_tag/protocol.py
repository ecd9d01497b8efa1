"""The one source of truth for the wire format and its limits.

The tag builds events with it, the collector validates what it receives with it,
and the tests import their bounds from it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

MAX_VALUES_PER_CALL = 4
MAX_VALUE_LENGTH = 256
MAX_BODY_BYTES = 64 * 1024
"""A request body's cap: also the browsers' budget for in-flight keepalive requests."""
MAX_URL_LENGTH = 2048
MAX_ID_LENGTH = 64
MAX_ACCOUNT_LENGTH = 128
MAX_SAFE_INTEGER = 2**53
"""JavaScript's largest exact integer: bounds numbers (and refuses NaN and infinity)."""

CAMPAIGN_EVENT_TYPES = ("impression", "click", "control")
"""A campaign shown in its zone, its link followed, or its content held back (holdout):
each names the campaign in ``props.campaign`` and carries no values."""
EVENT_TYPES = ("event", "view", *CAMPAIGN_EVENT_TYPES)
REQUIRED_FIELDS = ("type", "values", "event_id", "session_id", "visitor_id", "url", "ts")
OPTIONAL_TEXT_FIELDS = {"account": MAX_ACCOUNT_LENGTH, "referrer": MAX_URL_LENGTH}
STORED_FIELDS = (
    "event_id", "type", "values", "session_id", "visitor_id", "account", "url", "referrer", "ts", "dropped", "props",
)
"""An event's fields as both stores keep them and ``/api/events`` lists them (with the
store's ``seq`` and ``received_at``)."""
JSON_FIELDS = ("values", "props")
"""Stored fields that hold a list or an object (a JSON column) rather than text or a number."""
CUSTOM_VARS = tuple(f"customVar{number}" for number in range(1, 6))
"""``rtp('set', 'customVar1', value)`` ... ``customVar5``: sent in the next view's props."""
MAX_CUSTOM_VAR_LENGTH = 100
PROPS_FIELDS: dict[str, tuple[str, ...]] = {
    "event": (),
    "view": CUSTOM_VARS,
    **{kind: ("campaign",) for kind in CAMPAIGN_EVENT_TYPES},
}
"""The fields each event type may carry in its ``props`` object."""


class ProtocolError(ValueError):
    """Data that breaks the wire format; the message says what and how to fix it."""


def check_values(values: object) -> tuple[str, ...]:
    """Return ``values`` as a tuple of 1..4 non-empty strings, or raise ProtocolError."""
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise ProtocolError(f"values must be a list of strings, not {describe(values)}")
    if not values:
        raise ProtocolError("customData.value is an empty array: give 1 to 4 non-empty strings")
    if len(values) > MAX_VALUES_PER_CALL:
        raise ProtocolError(
            f"customData.value holds {len(values)} strings; at most {MAX_VALUES_PER_CALL} are "
            "allowed per call: call rtp('send', 'event', ...) again for the rest"
        )
    for index, value in enumerate(values):
        check_value(value, where=f"customData.value[{index}]")
    return tuple(values)


def check_value(value: object, where: str = "customData.value") -> str:
    """Return ``value`` if it is a non-empty string of at most 256 characters."""
    if not isinstance(value, str):
        raise ProtocolError(f"{where} must be a string, not {describe(value)}")
    if not value.strip():
        raise ProtocolError(f"{where} is an empty string: give the name of the event")
    if len(value) > MAX_VALUE_LENGTH:
        raise ProtocolError(
            f"{where} is {len(value)} characters long; at most {MAX_VALUE_LENGTH} are allowed"
        )
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ProtocolError(
                f"{where} holds half of a surrogate pair (was it cut inside an emoji?): "
                "send whole characters"
            ) from None
    return value


def check_event(event: object) -> dict[str, Any]:
    """Validate one event as the collector receives it; return it as a plain dict."""
    if not isinstance(event, Mapping):
        raise ProtocolError(f"an event must be a JSON object, not {describe(event)}")
    missing = [field for field in REQUIRED_FIELDS if field not in event]
    if missing:
        raise ProtocolError(f"event lacks the field(s) {', '.join(missing)}")
    kind = event["type"]
    if kind not in EVENT_TYPES:
        raise ProtocolError(f"type must be one of {', '.join(EVENT_TYPES)}, not {kind!r}")
    if kind == "event":
        check_values(event["values"])
    elif event["values"] != []:
        raise ProtocolError(f"{_article(kind)} {kind} carries no values: send values as 'event'")
    _check_props(kind, event.get("props", {}))
    for field in ("event_id", "session_id", "visitor_id"):
        _check_text(event, field, MAX_ID_LENGTH, required=True)
    _check_text(event, "url", MAX_URL_LENGTH, required=True)
    for field, limit in OPTIONAL_TEXT_FIELDS.items():
        _check_text(event, field, limit, required=False)
    ts = event["ts"]
    if isinstance(ts, bool) or not isinstance(ts, (int, float)) or not 0 <= ts < MAX_SAFE_INTEGER:
        raise ProtocolError("ts must be a timestamp in milliseconds since the epoch")
    dropped = event.get("dropped", 0)
    if isinstance(dropped, bool) or not isinstance(dropped, int) or not 0 <= dropped < MAX_SAFE_INTEGER:
        raise ProtocolError("dropped must be a whole number of events, 0 or more")
    return dict(event)


def stored_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """A checked event as the stores keep it: the ``STORED_FIELDS``, in that order, with
    the optional ones filled in (no account or referrer is "", no props is {})."""
    return {
        "event_id": event["event_id"],
        "type": event["type"],
        "values": list(event["values"]),
        "session_id": event["session_id"],
        "visitor_id": event["visitor_id"],
        "account": event.get("account") or "",
        "url": event["url"],
        "referrer": event.get("referrer") or "",
        "ts": int(event["ts"]),
        "dropped": int(event.get("dropped", 0)),
        "props": dict(event.get("props") or {}),  # check_event made sure it is an object
    }


def _check_props(kind: str, props: object) -> None:
    """An event's type-specific fields (``PROPS_FIELDS``): a campaign event names its
    campaign; a view's custom variables are strings of at most ``MAX_CUSTOM_VAR_LENGTH``
    characters; nothing else is accepted, so nothing unchecked is stored."""
    if not isinstance(props, Mapping):
        raise ProtocolError("props must be an object of the event's type-specific fields ({} for none)")
    allowed = PROPS_FIELDS[kind]
    for key in props:
        if key not in allowed:
            theirs = ", ".join(allowed) or "none"
            raise ProtocolError(f"props.{key} is not a field of {kind!r} events (theirs: {theirs})")
    if kind in CAMPAIGN_EVENT_TYPES:
        if "campaign" not in props:
            raise ProtocolError(f"{_article(kind)} {kind} names its campaign: give props.campaign, the campaign's name")
        check_value(props["campaign"], where="props.campaign")
    for key, value in props.items():
        if key in CUSTOM_VARS and not isinstance(value, str):
            raise ProtocolError(f"props.{key} must be a string, not {describe(value)}")
        if key in CUSTOM_VARS and len(value) > MAX_CUSTOM_VAR_LENGTH:
            raise ProtocolError(
                f"props.{key} is {len(value)} characters long; at most {MAX_CUSTOM_VAR_LENGTH} are allowed"
            )


def _article(noun: str) -> str:
    return "an" if noun[0] in "aeiou" else "a"


def _check_text(event: Mapping[str, Any], field: str, limit: int, *, required: bool) -> None:
    value = event.get(field)
    if value is None and not required:
        return
    if not isinstance(value, str) or (required and not value):
        raise ProtocolError(f"{field} must be a non-empty string")
    if len(value) > limit:
        raise ProtocolError(f"{field} is longer than {limit} characters")


def describe(value: object) -> str:
    """Name a value the way a JavaScript author would recognise it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, Sequence):
        return "an array"
    if callable(value):
        return "a function"
    return f"{getattr(value, 'description', type(value).__name__)}"
