"""``rtp('send', 'redirect', ...)``: which page, if any, to send this visitor to.

Two forms, as in the reference:
``rtp('send', 'redirect', field, values, url[, redirectMatched = true])`` and
``rtp('send', 'redirect', field, {url1: [values], url2: [values]})``.
Pure: the arguments are read into a ``RedirectRule`` when the call is made (bad
ones are refused at once), and ``redirect_target`` decides once the visitor's
context (the ``get visitor`` answer) is known. The page only follows the answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from .protocol import MAX_URL_LENGTH, describe

FIELDS = {"matchedSegments.name": "name", "matchedSegments.id": "id"}
"""The context fields rtp-tag knows, and the key each reads in a matched segment."""
REFERENCE_ONLY_FIELDS = (
    "abm.name", "abm.code", "org", "location.country", "location.state", "location.city", "industries", "isp",
)
"""Fields of the reference that need firmographic data rtp-tag does not have."""
USAGE = (
    "rtp('send', 'redirect', field, values, url[, redirectMatched]) "
    "or rtp('send', 'redirect', field, {url: [values]})"
)


class RedirectError(ValueError):
    """A redirect call the tag refuses; the message says what to fix."""


@dataclass(frozen=True)
class RedirectRule:
    field: str
    targets: tuple[tuple[str, tuple[str, ...]], ...]
    """(absolute http(s) URL, the values that send a visitor there), in the call's order."""
    when_matched: bool = True
    """False: redirect the visitors whose context does *not* match."""


def parse_redirect(args: Sequence[object], page_url: str) -> RedirectRule:
    """Read the arguments after ``'send', 'redirect'``; raise RedirectError if unusable."""
    if not args:
        raise RedirectError(f"{USAGE}: the field is missing")
    field = args[0]
    if field in REFERENCE_ONLY_FIELDS:
        raise RedirectError(
            f"rtp('send', 'redirect', {field!r}, ...): rtp-tag has no firmographic data; "
            f"redirect on {' or '.join(map(repr, FIELDS))}"
        )
    if not isinstance(field, str) or field not in FIELDS:
        shown = repr(field) if isinstance(field, str) else describe(field)
        raise RedirectError(f"rtp('send', 'redirect', field, ...): field {shown} is not one of {', '.join(FIELDS)}")
    if len(args) > 1 and isinstance(args[1], Mapping):
        if len(args) > 3:
            raise RedirectError(f"{USAGE}: the {{url: [values]}} form takes no arguments after it")
        mapping = args[1]
        if not mapping:
            raise RedirectError(f"{USAGE}: the {{url: [values]}} object is empty")
        targets = tuple((_url(url, page_url), _values(values)) for url, values in mapping.items())
        matched = args[2] if len(args) > 2 else True
    else:
        if len(args) < 3:
            raise RedirectError(f"{USAGE}: give the values and the url to redirect to")
        targets = ((_url(args[2], page_url), _values(args[1])),)
        matched = args[3] if len(args) > 3 else True
    if matched is None:
        matched = True
    if not isinstance(matched, bool):
        raise RedirectError(
            f"rtp('send', 'redirect', ...): redirectMatched must be true or false, not {describe(matched)}"
        )
    return RedirectRule(field, targets, matched)


def redirect_target(rule: RedirectRule, answer: Mapping[str, Any], page_url: str) -> str | None:
    """The URL to send the visitor to, or None: when the context is unknown (the
    collector did not answer), when nothing applies, or when the target is this very
    page (the loop guard)."""
    if answer.get("status") != 200:
        return None
    results = answer.get("results")
    segments = results.get("matchedSegments", []) if isinstance(results, Mapping) else []
    key = FIELDS[rule.field]
    context = {str(segment.get(key, "")).casefold() for segment in segments if isinstance(segment, Mapping)}
    for url, values in rule.targets:
        matches = any(value.casefold() in context for value in values)
        if matches == rule.when_matched:
            return None if same_page(url, page_url) else url
    return None


def same_page(url: str, page_url: str) -> bool:
    """Whether ``url`` is the page at ``page_url`` (its fragment aside)."""
    return _without_fragment(url) == _without_fragment(page_url)


def _without_fragment(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", parts.query, ""))


def _url(url: object, page_url: str) -> str:
    if not isinstance(url, str) or not url.strip():
        shown = "an empty string" if isinstance(url, str) else describe(url)
        raise RedirectError(f"rtp('send', 'redirect', ...): the url must be a page URL or path, not {shown}")
    cleaned = "".join(char for char in url if char not in "\t\n\r").strip()
    try:
        resolved = urljoin(page_url, cleaned)
        scheme = urlsplit(resolved).scheme.lower()
    except ValueError:
        scheme = ""
    if scheme not in ("http", "https") or len(resolved) > MAX_URL_LENGTH:
        raise RedirectError(
            f"rtp('send', 'redirect', ...): {url!r} is not an http(s) URL; the tag redirects only to web pages"
        )
    return resolved


def _values(values: object) -> tuple[str, ...]:
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, Sequence) or not values or not all(isinstance(value, str) for value in values):
        raise RedirectError(
            f"rtp('send', 'redirect', field, values, ...): values must be a string or a non-empty array of strings, "
            f"not {describe(values)}"
        )
    return tuple(values)
