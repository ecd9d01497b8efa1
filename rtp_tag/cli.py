"""``rtp-tag``: build the tag, or serve it with the collector."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import __version__
from .collector.limits import DEFAULT_EVENTS_PER_MINUTE, WINDOW_SECONDS
from .layout import DIST_ENV, NoBuiltTag, find_dist

DEFAULT_DB = "rtp-events.sqlite3"


def add_option(
    parser: argparse.ArgumentParser, flag: str, *, env: str, default: Any, help: str,
    shown: str | None = None, type: Callable[[str], Any] = str, **kwargs: Any,
) -> None:
    """``flag``, whose default comes from the environment variable ``env`` when it is set;
    ``--help`` names both, and the default (``shown`` says it in words)."""
    shown = shown if shown is not None else "none" if default is None else str(default)
    value = os.environ.get(env)
    if value is not None:
        try:
            default = type(value)
        except ValueError:
            parser.error(f"{env}={value!r} is not a valid {flag} value: fix or unset {env}")
    parser.add_argument(flag, default=default, type=type, help=f"{help} [env {env}; default: {shown}]", **kwargs)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="rtp-tag", description=__doc__)
    top.add_argument("--version", action="version", version=f"rtp-tag {__version__}")
    commands = top.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "build", help="write dist/ from web/, rtp_tag/ and node_modules/ (in a checkout of rtp-tag)"
    )
    serve = commands.add_parser(
        "serve", help="serve the built tag, the demo and the collector",
        description="Serve the built tag, the demo and the collector. Every option can also be set "
        "by the environment variable named in brackets; the option wins.",
    )
    add_option(serve, "--host", env="RTP_TAG_HOST", default="127.0.0.1", help="address to listen on")
    add_option(
        serve, "--port", env="RTP_TAG_PORT", default=8000, type=int, help="port to listen on; 0 picks a free one"
    )
    add_option(
        serve, "--db", env="RTP_TAG_DB", default=DEFAULT_DB,
        help="the events' database: a SQLite file, or postgresql://USER:PASS@HOST:PORT/DB",
    )
    add_option(
        serve, "--dist", env=DIST_ENV, default=None, shown="./dist if it holds a built tag, else the tag inside "
        "the installed package", help="directory of the built tag to serve",
    )
    add_option(
        serve, "--workers", env="RTP_TAG_WORKERS", default=1, type=int,
        help="worker processes accepting on the port (each with its own database connections)",
    )
    add_option(
        serve, "--campaigns", env="RTP_TAG_CAMPAIGNS", default=None, metavar="FILE",
        help="segments and campaigns (TOML), reread when it changes",
    )
    add_option(
        serve, "--read-key", env="RTP_TAG_READ_KEY", default=None, metavar="KEY",
        shown="none: the read API answers 401 to everyone",
        help="secret key for the read API (Authorization: Bearer KEY); prefer the variable, "
        "which other users cannot see in the process list",
    )
    serve.add_argument(
        "--allow-origin", action="append", dest="allow_origins", metavar="ORIGIN",
        help="a site whose pages may send events, https://www.example.com or https://*.example.com; "
        "repeat for more [env RTP_TAG_ALLOWED_ORIGINS, comma separated; default: every origin]",
    )
    add_option(
        serve, "--rate-limit", env="RTP_TAG_RATE_LIMIT", default=DEFAULT_EVENTS_PER_MINUTE, type=_count,
        metavar="N", help="events a client address may send per minute (per process); 0 turns the limit off",
    )
    add_option(
        serve, "--rate-window", env="RTP_TAG_RATE_WINDOW", default=WINDOW_SECONDS, type=_positive,
        metavar="SECONDS", help="the rate limit's window, for tests only: --rate-limit counts per this many seconds",
    )
    add_option(
        serve, "--trust-proxy", env="RTP_TAG_TRUST_PROXY", default=False, type=_yes_no, nargs="?", const=True,
        metavar="yes|no", help="take the client address from X-Forwarded-For (its last entry): only behind "
        "a proxy you run that sets it",
    )
    add_option(
        serve, "--retain-days", env="RTP_TAG_RETAIN_DAYS", default=None, type=_positive, metavar="N",
        shown="keep every event", help="delete events received more than N days ago, at start and hourly",
    )
    return top


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


def _positive(text: str) -> float:
    value = float(text)
    if not 0 < value < float("inf"):
        raise ValueError(text)
    return value


def _yes_no(text: str) -> bool:
    answer = {"1": True, "yes": True, "true": True, "on": True, "0": False, "no": False, "false": False, "off": False}
    return answer[text.strip().lower()]


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "build":
        from .build import main as build_main

        return build_main()
    return _serve(args)


def _serve(args: argparse.Namespace) -> int:
    try:
        dist = find_dist(args.dist)
    except NoBuiltTag as problem:
        print(f"rtp-tag: {problem}", file=sys.stderr)
        return 2
    from .collector.access import Access, AccessConfigError, parse_origins
    from .collector.campaigns import CampaignConfigError
    from .collector.server import run
    from .collector.stores import StoreUnavailable

    campaigns = Path(args.campaigns) if args.campaigns else None
    origins = args.allow_origins or [os.environ.get("RTP_TAG_ALLOWED_ORIGINS", "")]
    try:
        access = Access(read_keys=(args.read_key,) if args.read_key else (), allowed_origins=parse_origins(origins))
        return run(
            host=args.host, port=args.port, db=args.db, dist=dist, campaigns=campaigns, workers=args.workers,
            access=access, rate_limit=args.rate_limit, rate_window=args.rate_window,
            trust_proxy=args.trust_proxy, retain_days=args.retain_days,
        )
    except (CampaignConfigError, AccessConfigError, StoreUnavailable) as problem:
        print(f"rtp-tag: {problem}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
