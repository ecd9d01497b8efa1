"""How segment rules read URLs: the page a view was of, the site a visitor came
from, the words they searched for, and ``*`` wildcard patterns.

All text is compared ignoring case, so keys are casefolded once here. Stdlib only.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import parse_qs, urlsplit

MAX_KEY_LENGTH = 256
"""Characters kept of a page, referrer or search: longer ones are cut (a rule longer
than this could never match, so the campaigns file refuses one)."""
SEARCH_ENGINES = {
    "google": ("q",),
    "bing": ("q",),
    "duckduckgo": ("q",),
    "yahoo": ("p",),
    "yandex": ("text",),
    "baidu": ("wd", "word"),
    "ecosia": ("q",),
    "qwant": ("q",),
    "startpage": ("query", "q"),
    "brave": ("q",),
    "ask": ("q",),
    "aol": ("q",),
}
"""A host label that names a search engine, and the query keys holding its search."""
SITE_SEARCH_KEYS = ("q", "query")
"""The query keys read as a search on other sites (their own search box)."""


def page_key(url: str) -> str | None:
    """``host/path`` of an http(s) URL (``host:port/path`` for a port given in the URL),
    casefolded, without scheme, query or fragment; None when ``url`` is not an
    absolute http(s) URL."""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").rstrip(".")
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    address = host if port is None else f"{host}:{port}"
    return (address + (parts.path or "/")).casefold()[:MAX_KEY_LENGTH]


def external_referrer(page: str | None, referrer: str) -> str | None:
    """The referrer's ``host/path`` when it is another site than the ``page`` (its
    ``page_key``): a visit's source; None for an empty, internal or non-http(s) referrer."""
    source = page_key(referrer or "")
    if source is None or (page is not None and _host(source) == _host(page)):
        return None
    return source


def search_query(referrer: str) -> str | None:
    """The words searched for, from a search engine's (or a site search's) referrer URL:
    casefolded, spaces collapsed; None when the referrer carries no search."""
    try:
        parts = urlsplit(referrer.strip())
        host = parts.hostname or ""
        query = parse_qs(parts.query)
    except ValueError:
        return None
    labels = host.split(".")
    keys = next((keys for engine, keys in SEARCH_ENGINES.items() if engine in labels), SITE_SEARCH_KEYS)
    for key in keys:
        for found in query.get(key, ()):
            words = " ".join(found.split()).casefold()
            if words:
                return words[:MAX_KEY_LENGTH]
    return None


def split_list(text: str) -> tuple[str, ...]:
    """``"a; b;"`` → ``("a", "b")``: the reference separates alternatives with ``;``."""
    return tuple(part.strip() for part in text.split(";") if part.strip())


def page_matches(pattern: str, key: str) -> bool:
    """Whether a page (its ``page_key``) matches ``pattern``, where ``*`` is any run of
    characters: a pattern starting with ``/`` is matched against the path, any other
    against ``host/path`` (a leading ``http://`` or ``https://`` is ignored)."""
    if pattern.startswith("/"):
        slash = key.find("/")
        key = key[slash:] if slash >= 0 else "/"
    return _wildcard(pattern).fullmatch(key) is not None


@lru_cache(maxsize=1024)
def _wildcard(pattern: str) -> re.Pattern[str]:
    pattern = re.sub(r"^https?://", "", pattern.strip(), flags=re.IGNORECASE)
    return re.compile(".*".join(re.escape(part) for part in pattern.casefold().split("*")), re.DOTALL)


def _host(key: str) -> str:
    host = key.split("/", 1)[0]
    return host[4:] if host.startswith("www.") else host
