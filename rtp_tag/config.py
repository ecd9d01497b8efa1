"""Where the tag sends and for which account, from what the page tells the loader.

Sources, strongest first: the script tag's ``data-endpoint``/``data-account``
attributes, the snippet's ``rtp.p`` (collector) and ``rtp.a`` (account), the
script URL's ``?aid=``, and for the collector the script's own origin.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urljoin, urlsplit

from .protocol import MAX_ACCOUNT_LENGTH
from .session import DEFAULT_SESSION_TIMEOUT


@dataclass(frozen=True)
class TagConfig:
    collect_url: str
    """The absolute URL events are POSTed to."""
    api_url: str
    """The collector's base URL, for personalization requests."""
    account: str
    session_timeout: float = DEFAULT_SESSION_TIMEOUT
    debug: bool = False
    """The debug view: ``?rtp_debug=1`` on the page or ``data-debug`` on the script tag."""


@dataclass(frozen=True)
class LoaderSettings:
    """The raw strings the loader found on the page; anything may be missing."""

    script_url: str
    page_url: str
    pod: str | None = None
    account: str | None = None
    endpoint_attribute: str | None = None
    account_attribute: str | None = None
    session_timeout_attribute: str | None = None
    debug: bool = False


def resolve_config(settings: LoaderSettings, warn: Callable[[str], None]) -> TagConfig:
    """Pick each setting from its strongest source; warn about the ones that are unusable."""
    script = urljoin(settings.page_url, settings.script_url)
    base = _origin(script) + "/"
    unusable: list[str] = []
    for name, candidate in (("data-endpoint", settings.endpoint_attribute), ("rtp.p", settings.pod)):
        if candidate and candidate.strip():
            resolved = urljoin(settings.page_url, candidate.strip())
            if urlsplit(resolved).scheme in ("http", "https") and urlsplit(resolved).netloc:
                base = resolved if resolved.endswith("/") else resolved + "/"
                break
            unusable.append(f"{name} {candidate!r}")
    for source in unusable:  # named after the loop, so the warning says where events do go
        warn(f"{source} is not an http(s) URL; sending to {base}")
    account = ""
    aid = parse_qs(urlsplit(script).query).get("aid", [""])[0]
    for candidate in (settings.account_attribute, settings.account, aid):
        if candidate and str(candidate).strip():
            account = str(candidate).strip()[:MAX_ACCOUNT_LENGTH]
            break
    timeout = DEFAULT_SESSION_TIMEOUT
    if settings.session_timeout_attribute:
        try:
            minutes = float(settings.session_timeout_attribute)
            if not 0 < minutes < float("inf"):  # also refuses nan
                raise ValueError
            timeout = minutes * 60
        except ValueError:
            warn(
                f"data-session-timeout {settings.session_timeout_attribute!r} is not a positive "
                "number of minutes; using 30"
            )
    return TagConfig(
        collect_url=urljoin(base, "collect"),
        api_url=base,
        account=account,
        session_timeout=timeout,
        debug=settings.debug,
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
