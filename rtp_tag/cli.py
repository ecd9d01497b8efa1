"""``rtp-tag``: build the tag, or serve it with the collector."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_DB = "rtp-events.sqlite3"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rtp-tag", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("build", help="write dist/ from web/, rtp_tag/ and node_modules/pyodide")
    serve = commands.add_parser("serve", help="serve the built tag, the demo and the collector")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    serve.add_argument("--db", default=DEFAULT_DB, help=f"SQLite file (default ./{DEFAULT_DB})")
    serve.add_argument("--dist", default="dist", help="the built tag (default ./dist)")
    serve.add_argument(
        "--campaigns", metavar="FILE", help="segments and campaigns (TOML), reread when it changes"
    )
    args = parser.parse_args(argv)
    if args.command == "build":
        from .build import main as build_main

        return build_main()
    return _serve(args)


def _serve(args: argparse.Namespace) -> int:
    dist = Path(args.dist)
    if not (dist / "rtp.js").is_file():
        print(
            f"rtp-tag: no built tag in {dist.resolve()}: run `python build.py` "
            "(or `rtp-tag build`) in the checkout first, or pass --dist",
            file=sys.stderr,
        )
        return 2
    from .collector.campaigns import CampaignConfigError
    from .collector.server import run

    campaigns = Path(args.campaigns) if args.campaigns else None
    try:
        return run(host=args.host, port=args.port, db=Path(args.db), dist=dist, campaigns=campaigns)
    except CampaignConfigError as problem:
        print(f"rtp-tag: {problem}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
