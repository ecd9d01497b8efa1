"""Who may do what: the secret read path (read keys) and the public write path
(allowed origins, CORS).

- Read endpoints (``read_api``) need ``Authorization: Bearer KEY``; with no key
  configured they answer 401 to everyone. Their answers carry no CORS header, so no
  other website's script can read them.
- The tag's endpoints (``tag_api``) answer pages of the allowed origins (every origin
  when none is configured), naming only that origin in ``Access-Control-Allow-Origin``.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from functools import wraps

from starlette.requests import Request
from starlette.responses import Response

from .answers import error

Endpoint = Callable[[Request], Awaitable[Response]]

KEY_HINT = "start rtp-tag serve with --read-key KEY (or RTP_TAG_READ_KEY=KEY)"
PREFLIGHT_MAX_AGE = 86400
_ORIGIN = re.compile(r"^(https?)://(\*\.)?([a-z0-9.-]+|\[[0-9a-f:.]+\])(:\d{1,5})?$")


class AccessConfigError(ValueError):
    """A read key or allowed origin that cannot be used; the message says how to fix it."""


@dataclass(frozen=True)
class Access:
    """The read keys and allowed origins in force (no keys: reads closed; no origins: all)."""

    read_keys: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for key in self.read_keys:
            if not key or not key.isascii() or not key.isprintable() or " " in key:
                raise AccessConfigError(
                    "a read key must be non-empty printable ASCII without spaces "
                    "(e.g. the output of `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
                )
        object.__setattr__(self, "allowed_origins", tuple(_origin_pattern(entry) for entry in self.allowed_origins))

    def key_matches(self, token: str) -> bool:
        """Whether ``token`` is one of the read keys, in constant time for each key."""
        given = token.encode()
        matched = False
        for key in self.read_keys:
            matched |= hmac.compare_digest(given, key.encode())
        return matched

    def origin_allowed(self, origin: str | None) -> bool:
        """Whether a page of ``origin`` may use the tag's endpoints."""
        if not self.allowed_origins:
            return True
        if origin is None:
            return False
        origin = origin.lower()
        return any(_origin_matches(entry, origin) for entry in self.allowed_origins)

    def startup_notes(self) -> list[str]:
        """What ``serve`` says at start about a closed read API or an open write path."""
        notes = []
        if not self.read_keys:
            notes.append(f"rtp-tag: no read key, so /api/events and the other read endpoints answer 401: {KEY_HINT}")
        if not self.allowed_origins:
            notes.append(
                "rtp-tag: pages of every origin may send events; name your sites with "
                "--allow-origin https://www.example.com (or RTP_TAG_ALLOWED_ORIGINS)"
            )
        return notes


CLOSED = Access()
"""No read key (reads closed to everyone) and every origin allowed: the default."""


def parse_origins(entries: Iterable[str]) -> tuple[str, ...]:
    """Allowed origins from repeated ``--allow-origin`` values or a comma-separated variable."""
    return tuple(part.strip() for entry in entries for part in entry.split(",") if part.strip())


def _origin_pattern(entry: str) -> str:
    normalized = entry.strip().lower()
    if not _ORIGIN.match(normalized):
        raise AccessConfigError(
            f"allowed origin {entry!r} is not an origin: give scheme://host[:port] without a path, "
            "like https://www.example.com or https://*.example.com"
        )
    return normalized


def _origin_matches(entry: str, origin: str) -> bool:
    scheme, wildcard, rest = entry.partition("://*.")
    if not rest:
        return origin == entry
    prefix = f"{scheme}://"
    # https://*.example.com allows any subdomain (a.example.com, a.b.example.com), not example.com.
    return origin.startswith(prefix) and origin.endswith("." + rest) and len(origin) > len(prefix) + len(rest) + 1


def _unauthorized(message: str, problem: str = "invalid_token") -> Response:
    return error(401, message, {"WWW-Authenticate": f'Bearer realm="rtp-tag", error="{problem}"'})


def read_api(endpoint: Endpoint) -> Endpoint:
    """``endpoint`` for holders of a read key only; its answers carry no CORS header."""

    @wraps(endpoint)
    async def guarded(request: Request) -> Response:
        access: Access = request.app.state.access
        header = request.headers.get("authorization")
        if header is None:
            return error(401, f"send Authorization: Bearer KEY with a read key; {KEY_HINT}",
                         {"WWW-Authenticate": 'Bearer realm="rtp-tag"'})
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token:
            return error(
                400, "the Authorization header must be `Bearer KEY` (one word after Bearer)",
                {"WWW-Authenticate": 'Bearer realm="rtp-tag", error="invalid_request"'},
            )
        if not access.read_keys:
            return _unauthorized(f"this collector has no read key, so it lets no one read: {KEY_HINT}")
        if not access.key_matches(token):
            return _unauthorized("the read key is wrong: send one this collector was started with")
        return await endpoint(request)

    return guarded


def tag_api(endpoint: Endpoint, *, origin_required: bool = False) -> Endpoint:
    """``endpoint`` for pages of the allowed origins, with CORS naming the page's origin
    (``*`` while every origin is allowed); ``origin_required`` also refuses requests
    without an ``Origin`` header when origins are configured (``/collect``)."""

    @wraps(endpoint)
    async def gated(request: Request) -> Response:
        access: Access = request.app.state.access
        origin = request.headers.get("origin")
        if access.allowed_origins and (origin is not None or origin_required) and not access.origin_allowed(origin):
            said = f"origin {origin}" if origin else "a request without an Origin header"
            refusal = error(
                403, f"{said} may not use this collector: add it with --allow-origin (or RTP_TAG_ALLOWED_ORIGINS)"
            )
            if origin is not None and request.method != "OPTIONS":
                # Readable by the refused page, so its tag logs why and drops the events
                # instead of taking the refusal for a network failure and retrying forever.
                refusal.headers["Access-Control-Allow-Origin"] = origin
                refusal.headers["Vary"] = "Origin"
            return refusal
        if request.method == "OPTIONS":
            response: Response = Response(status_code=204, headers={
                "Access-Control-Allow-Methods": "GET, POST",
                "Access-Control-Allow-Headers": "Content-Type",
                "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE),
            })
        else:
            response = await endpoint(request)
        if origin is not None:
            response.headers["Access-Control-Allow-Origin"] = origin if access.allowed_origins else "*"
            response.headers["Access-Control-Expose-Headers"] = "Retry-After"
        if access.allowed_origins:
            response.headers["Vary"] = "Origin"
        return response

    return gated
