"""Segments and campaigns from ``rtp-tag serve --campaigns FILE.toml``.

A malformed file is refused as a whole with a ``CampaignConfigError`` that names
the file, the line (tomllib's for syntax, the entry's or key's line otherwise)
and the problem, so the server stops at start instead of personalizing wrongly.
Stdlib only: the rule engine and its tests also run under Pyodide.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..protocol import CUSTOM_VARS, MAX_CUSTOM_VAR_LENGTH, MAX_VALUE_LENGTH
from .devices import DEVICE_CLASSES
from .pages import MAX_KEY_LENGTH, split_list

MAX_AFTER_VIEWS = 9
"""The reference shows a campaign on entering its segment or after the 1st to 9th page view."""
MATCH_MODES = ("all", "any")
VISITS_OPERATORS = ("=", ">=", "<=")
CUSTOM_VAR_KEYS = {f"custom_var{name.removeprefix('customVar')}": name for name in CUSTOM_VARS}
"""``custom_var1`` in the file is the tag's ``customVar1``."""
RULE_KEYS = (
    "custom_data", "custom_data_contains", "pages_include", "pages_exclude", "referrer_contains",
    "search_terms", "visits", "device", *CUSTOM_VAR_KEYS,
)
_SEGMENT_KEYS = {"id": True, "name": True, "match": False, **{key: False for key in RULE_KEYS}}
MAX_HOLDOUT = 0.5
"""At most half of a campaign's qualifying visitors may be held back as its control group."""
_CAMPAIGN_KEYS = {
    "name": True, "segment": True, "zone": True, "text": True, "link": False, "after_views": False,
    "holdout": False, "goal": False,
}
"""Each table's keys, and whether the key is required."""
_LINK_SCHEMES = ("", "http", "https")
_C0_AND_SPACE = "".join(map(chr, range(0x21)))
_VISITS = re.compile(r"(>=|<=|=)\s*(\d+)")


class CampaignConfigError(ValueError):
    """The campaigns file cannot be used; the message says where and why."""


@dataclass(frozen=True)
class Visits:
    """The ``visits`` rule: the visitor's number of sessions compared with ``count``."""

    operator: str
    count: int


@dataclass(frozen=True)
class Segment:
    """A segment's rules; ``match`` says whether all of them must hold or any one.
    Lists (pages, referrers, searches, devices) hold alternatives: any one will do."""

    id: str
    name: str
    match: str = "all"
    custom_data: str | None = None
    """The visitor sent exactly this value (ignoring case)."""
    custom_data_contains: str | None = None
    """The visitor sent a value containing this (ignoring case)."""
    pages_include: tuple[str, ...] = ()
    """The visitor viewed a page matching one of these ``*`` patterns."""
    pages_exclude: tuple[str, ...] = ()
    """The visitor viewed no page matching any of these ``*`` patterns."""
    referrer_contains: tuple[str, ...] = ()
    """A view came from another site whose URL contains one of these (casefolded)."""
    search_terms: tuple[str, ...] = ()
    """A view came from a search containing one of these (casefolded)."""
    visits: Visits | None = None
    device: tuple[str, ...] = ()
    """The request's device class is one of these (``devices.DEVICE_CLASSES``)."""
    custom_vars: tuple[tuple[str, str], ...] = ()
    """``(customVarN, value)``: the variable's current value is this (ignoring case)."""


@dataclass(frozen=True)
class Campaign:
    name: str
    segment: str
    zone: str
    """In Zone: the id of the element whose content the campaign replaces."""
    text: str
    link: str | None = None
    after_views: int = 0
    """Show from this many page views after the visitor entered the segment (0: at once)."""
    holdout: float = 0.0
    """The share of qualifying visitors kept on the default content, to measure lift."""
    goal: str | None = None
    """The custom data value that counts as a conversion."""


@dataclass(frozen=True)
class CampaignConfig:
    segments: tuple[Segment, ...] = ()
    campaigns: tuple[Campaign, ...] = ()


EMPTY_CONFIG = CampaignConfig()


def parse_config(text: str, source: str) -> CampaignConfig:
    """The segments and campaigns in TOML ``text``; ``source`` names the file in errors."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as problem:
        raise CampaignConfigError(f"{source}: not valid TOML: {problem}") from None
    locate = _Locator(text, source)
    unknown = sorted(set(document) - {"segments", "campaigns"})
    if unknown:
        raise CampaignConfigError(
            f"{locate.top_level(unknown[0])}unknown top-level key {unknown[0]!r}: "
            "the file holds only [[segments]] and [[campaigns]] tables"
        )
    segment_entries = _tables(document, "segments", locate)
    campaign_entries = _tables(document, "campaigns", locate)
    segments = tuple(_segment(entry, index, locate) for index, entry in enumerate(segment_entries))
    seen: dict[str, int] = {}
    for index, segment in enumerate(segments):
        if segment.id in seen:
            raise CampaignConfigError(
                f"{locate.key('segments', index, 'id')}segment id {segment.id!r} is already used by "
                f"[[segments]] #{seen[segment.id] + 1}: give each segment its own id"
            )
        seen[segment.id] = index
    ids = {segment.id for segment in segments}
    campaigns = tuple(_campaign(entry, index, locate, ids) for index, entry in enumerate(campaign_entries))
    return CampaignConfig(segments, campaigns)


def load_config(path: Path) -> CampaignConfig:
    """Read and check the campaigns file at ``path``."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as problem:
        raise CampaignConfigError(f"{path}: cannot be read: {problem.strerror or problem}") from None
    except UnicodeDecodeError as problem:
        raise CampaignConfigError(f"{path}: not UTF-8 text ({problem.reason} at byte {problem.start})") from None
    return parse_config(text, str(path))


class CampaignFile:
    """The campaigns file, reread when it changes so edits apply without a restart.

    The first load raises on a malformed file. A later broken edit is reported
    once and the last good configuration stays in force until the file is fixed.
    """

    def __init__(self, path: Path, report: Callable[[str], None]) -> None:
        self._path = path
        self._report = report
        self._stamp = self._read_stamp()
        self._config = load_config(path)

    def current(self) -> CampaignConfig:
        stamp = self._read_stamp()
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                self._config = load_config(self._path)
                self._report(f"rtp-tag: reloaded {self._path}")
            except CampaignConfigError as problem:
                self._report(f"rtp-tag: {problem}; keeping the previous segments and campaigns")
        return self._config

    def _read_stamp(self) -> tuple[int, int] | None:
        try:
            status = self._path.stat()
        except OSError:
            return None
        return (status.st_mtime_ns, status.st_size)


def _tables(document: Mapping[str, Any], table: str, locate: _Locator) -> list[Mapping[str, Any]]:
    entries = document.get(table, [])
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise CampaignConfigError(
            f"{locate.top_level(table)}{table!r} must be an array of tables, written [[{table}]]"
        )
    return entries


def _segment(entry: Mapping[str, Any], index: int, locate: _Locator) -> Segment:
    fields = _fields(entry, "segments", index, _SEGMENT_KEYS, locate)
    if not any(key in fields for key in RULE_KEYS):
        raise CampaignConfigError(
            f"{locate.entry('segments', index)}has no rule: give at least one of {', '.join(RULE_KEYS)}"
        )
    parsed: dict[str, Any] = {"id": fields["id"], "name": fields["name"]}
    custom_vars = []
    for key, value in fields.items():
        if key in ("id", "name"):
            continue
        try:
            rule = _RULE_PARSERS[key](value)
        except ValueError as problem:
            raise CampaignConfigError(f"{locate.key('segments', index, key)}{key} {problem}") from None
        if key in CUSTOM_VAR_KEYS:
            custom_vars.append((CUSTOM_VAR_KEYS[key], rule))
        else:
            parsed[key] = rule
    return Segment(**parsed, custom_vars=tuple(custom_vars))


def _match(value: str) -> str:
    if value.casefold() not in MATCH_MODES:
        raise ValueError(f'must be "all" (every rule holds) or "any" (one rule is enough), not {value!r}')
    return value.casefold()


def _limited(limit: int, what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if len(value) > limit:
            raise ValueError(f"is {len(value)} characters long; {what} has at most {limit}, so it could never match")
        return value

    return check


def _alternatives(what: str, allowed: tuple[str, ...] = ()) -> Callable[[str], tuple[str, ...]]:
    """A ``;``-separated list of alternatives, each checked for size (and membership in ``allowed``)."""

    def check(value: str) -> tuple[str, ...]:
        parts = split_list(value)
        if not parts:
            raise ValueError(f"holds no {what}: give one or more, separated by ';'")
        for part in parts:
            if allowed and part.casefold() not in allowed:
                raise ValueError(f"names {part!r}; use {', '.join(allowed)} (separate several with ';')")
            if len(part) > MAX_KEY_LENGTH:
                raise ValueError(
                    f"holds a {what} of {len(part)} characters; at most {MAX_KEY_LENGTH} are kept, "
                    "so it could never match"
                )
        return tuple(part.casefold() for part in parts) if allowed else parts

    return check


def _visits(value: str) -> Visits:
    found = _VISITS.fullmatch(value.strip())
    if found is None or int(found[2]) < 1:
        raise ValueError(
            f'must be "= N", ">= N" or "<= N" with N a number of visits (sessions) from 1, not {value!r}'
        )
    return Visits(found[1], int(found[2]))


_RULE_PARSERS: dict[str, Callable[[str], Any]] = {
    "match": _match,
    "custom_data": _limited(MAX_VALUE_LENGTH, "a custom data value"),
    "custom_data_contains": _limited(MAX_VALUE_LENGTH, "a custom data value"),
    "pages_include": _alternatives("page pattern"),
    "pages_exclude": _alternatives("page pattern"),
    "referrer_contains": lambda value: tuple(part.casefold() for part in _alternatives("referrer text")(value)),
    "search_terms": lambda value: tuple(part.casefold() for part in _alternatives("search term")(value)),
    "visits": _visits,
    "device": _alternatives("device class", DEVICE_CLASSES),
    **{key: _limited(MAX_CUSTOM_VAR_LENGTH, "a custom variable") for key in CUSTOM_VAR_KEYS},
}
"""Each segment key but id and name: its text → the rule, or ValueError saying what is wrong."""


def _campaign(entry: Mapping[str, Any], index: int, locate: _Locator, segment_ids: set[str]) -> Campaign:
    fields = _fields(entry, "campaigns", index, _CAMPAIGN_KEYS, locate)
    if fields["segment"] not in segment_ids:
        known = ", ".join(sorted(segment_ids)) or "none"
        raise CampaignConfigError(
            f"{locate.key('campaigns', index, 'segment')}unknown segment id {fields['segment']!r} "
            f"(defined segment ids: {known})"
        )
    link = fields.get("link")
    if link is not None and urlsplit(_strip_url(link)).scheme.lower() not in _LINK_SCHEMES:
        raise CampaignConfigError(
            f"{locate.key('campaigns', index, 'link')}link {link!r} is not an http(s) URL "
            "or a path on the site"
        )
    return Campaign(**fields)


def _fields(
    entry: Mapping[str, Any], table: str, index: int, keys: Mapping[str, bool], locate: _Locator
) -> dict[str, Any]:
    """The entry's values, each checked for presence, type and size."""
    unknown = sorted(set(entry) - set(keys))
    if unknown:
        raise CampaignConfigError(
            f"{locate.key(table, index, unknown[0])}unknown key {unknown[0]!r} "
            f"(known keys: {', '.join(keys)})"
        )
    missing = [key for key, required in keys.items() if required and key not in entry]
    if missing:
        raise CampaignConfigError(f"{locate.entry(table, index)}missing {', '.join(missing)}")
    fields: dict[str, Any] = {}
    for key, value in entry.items():
        if key == "after_views":
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_AFTER_VIEWS:
                raise CampaignConfigError(
                    f"{locate.key(table, index, key)}after_views must be a whole number from 0 "
                    f"(on entering the segment) to {MAX_AFTER_VIEWS}, not {value!r}"
                )
        elif key == "holdout":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_HOLDOUT:
                raise CampaignConfigError(
                    f"{locate.key(table, index, key)}holdout must be a share from 0 (no control group) "
                    f"to {MAX_HOLDOUT}, e.g. 0.1 for 10% of qualifying visitors, not {value!r}"
                )
            value = float(value)
        elif not isinstance(value, str) or not value.strip():
            raise CampaignConfigError(
                f"{locate.key(table, index, key)}{key} must be a non-empty string, not {value!r}"
            )
        elif table == "campaigns" and key in ("goal", "name") and len(value) > MAX_VALUE_LENGTH:
            raise CampaignConfigError(
                f"{locate.key(table, index, key)}{key} is {len(value)} characters long; "
                f"at most {MAX_VALUE_LENGTH} are allowed (the length of a custom data value)"
            )
        fields[key] = value.strip() if isinstance(value, str) and key != "text" else value
    return fields


def _strip_url(url: str) -> str:
    """The URL as a browser reads it: tabs and newlines removed, control characters
    and spaces trimmed, so ``" java\tscript:..."`` is seen as ``javascript:``."""
    return "".join(char for char in url if char not in "\t\n\r").strip(_C0_AND_SPACE)


class _Locator:
    """Finds the line of the Nth ``[[table]]`` header, or of a key, for error messages;
    falls back to naming the entry by its index (for inline tables, say)."""

    def __init__(self, text: str, source: str) -> None:
        self._lines = text.splitlines()
        self._source = source

    def entry(self, table: str, index: int) -> str:
        line = self._header_line(table, index)
        where = f"line {line + 1}, " if line is not None else ""
        return f"{self._source}: {where}[[{table}]] #{index + 1}: "

    def key(self, table: str, index: int, key: str) -> str:
        header = self._header_line(table, index)
        line = None if header is None else self._assignment_line(header + 1, key)
        if line is None:
            return self.entry(table, index)
        return f"{self._source}: line {line + 1}, [[{table}]] #{index + 1}: "

    def top_level(self, key: str) -> str:
        """Where a top-level key is assigned, or a table of that name begins."""
        first_header = None
        for number, line in enumerate(self._lines):
            name = _header_name(line)
            if name is not None:
                first_header = number if first_header is None else first_header
                if name == key:
                    return f"{self._source}: line {number + 1}: "
        assigned = self._assignment_line(0, key, stop=first_header)
        return f"{self._source}: line {assigned + 1}: " if assigned is not None else f"{self._source}: "

    def _header_line(self, table: str, index: int) -> int | None:
        pattern = re.compile(r"\s*\[\[\s*" + re.escape(table) + r"\s*\]\]\s*(#.*)?$")
        found = [number for number, line in enumerate(self._lines) if pattern.match(line)]
        return found[index] if index < len(found) else None

    def _assignment_line(self, start: int, key: str, stop: int | None = None) -> int | None:
        """The line assigning ``key`` from ``start`` up to the next table header."""
        pattern = re.compile(r"\s*[\"']?" + re.escape(key) + r"[\"']?\s*=")
        for number in range(start, len(self._lines) if stop is None else stop):
            if _header_name(self._lines[number]) is not None:
                return None
            if pattern.match(self._lines[number]):
                return number
        return None


def _header_name(line: str) -> str | None:
    """``a`` for a ``[a]``, ``[[a]]`` or ``[a.b]`` header line; None for other lines."""
    stripped = line.strip()
    if not stripped.startswith("["):
        return None
    return stripped.lstrip("[").split("]")[0].split(".")[0].strip().strip("\"'")
