"""``/api/visitor`` latency against the visitor's history, on SQLite and PostgreSQL (issue 10).

    .venv/bin/python bench/visitor.py [--requests 300] [--sizes 1,1000,100000]

For each store: one database holding a visitor with each number of events (stored
through the store's own ``add``, in requests of 500, so their profiles are kept as
the collector keeps them), then a real ``rtp-tag serve`` on it answering
``GET /api/visitor`` for each visitor, ``--requests`` times one after another from
this process. Prints p50/p99 per visitor and the ratio against the 1-event visitor
of the same store in the same run: flat means about 1.0x. PostgreSQL is a throwaway
cluster of Debian's server (fsync off, which reads do not touch). A script that
prints figures, not a test.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rtp_tag.collector.stores import open_store  # noqa: E402
from rtp_tag.pytest_plugin import Collector  # noqa: E402
from rtp_tag.throwaway_postgres import ThrowawayPostgres  # noqa: E402

CAMPAIGNS = """
[[segments]]
id = "wp"
name = "Whitepaper downloaders"
custom_data = "download - example whitepaper"

[[campaigns]]
name = "Follow-up"
segment = "wp"
zone = "hero"
text = "Join the live demo"
after_views = 2
"""
BATCH = 500


def fill(db: str, sizes: list[int]) -> None:
    """A visitor ``v{size}`` with ``size`` events: the segment's value first, then views."""
    store = open_store(db)
    try:
        for size in sizes:
            events = [
                {
                    "type": "event" if n == 0 else "view",
                    "values": ["download - example whitepaper"] if n == 0 else [],
                    "event_id": f"v{size}-{n}", "session_id": f"s{n // 50}", "visitor_id": f"v{size}",
                    "account": "acme", "url": f"https://site.example/page/{n % 40}", "ts": 1_700_000_000_000 + n,
                }
                for n in range(size)
            ]
            for start in range(0, size, BATCH):
                store.add(events[start : start + BATCH])
    finally:
        store.close()


def bytes_per_event(db: str, events: int) -> float:
    """The database's size (tables and indexes) over the events it holds."""
    if db.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(db) as conn:
            row = conn.execute(
                "SELECT pg_total_relation_size('events') + pg_total_relation_size('profiles')"
            ).fetchone()
            assert row is not None
            return float(row[0]) / events
    path = Path(db)
    sqlite3.connect(path).execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
    return path.stat().st_size / events


def latencies(collector: Collector, visitors: list[str], rounds: int) -> dict[str, list[float]]:
    """Seconds per answer for each visitor, asked in turn (round robin, so that the
    shared machine's ups and downs fall on every visitor alike)."""
    seconds: dict[str, list[float]] = {visitor: [] for visitor in visitors}
    for _ in range(rounds):
        for visitor in visitors:
            url = f"{collector.url}api/visitor?visitor_id={visitor}&account=acme"
            started = time.perf_counter()
            with urllib.request.urlopen(url, timeout=30) as response:
                answer = json.load(response)
            seconds[visitor].append(time.perf_counter() - started)
            assert answer == {"matchedSegments": [{"id": "wp", "name": "Whitepaper downloaders"}]}, answer
    return seconds


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--sizes", default="1,1000,100000")
    parser.add_argument("--dist", default=str(ROOT / "dist"))
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as folder, ThrowawayPostgres() as postgres:
        campaigns = Path(folder) / "campaigns.toml"
        campaigns.write_text(CAMPAIGNS)
        databases = (
            ("SQLite", str(Path(folder) / "events.sqlite3")), ("PostgreSQL", postgres.create_database("bench"))
        )
        for store, db in databases:
            started = time.perf_counter()
            fill(db, sizes)
            print(
                f"{store}: {sum(sizes):,} events stored in {time.perf_counter() - started:.0f} s, "
                f"{bytes_per_event(db, sum(sizes)):.0f} bytes an event on disk (indexes and profiles included)",
            )
            collector = Collector(Path(args.dist), db, ("--campaigns", str(campaigns)))
            collector.start()
            try:
                visitors = [f"v{size}" for size in sizes]
                latencies(collector, visitors, 10)  # warm up
                measured = latencies(collector, visitors, args.requests)
                baseline = statistics.median(measured[visitors[0]])
                for size, visitor in zip(sizes, visitors, strict=True):
                    seconds = measured[visitor]
                    p50, p99 = statistics.median(seconds), percentile(seconds, 0.99)
                    rows.append((store, size, p50 * 1000, p99 * 1000, p50 / baseline))
            finally:
                collector.stop()
    print(f"\n/api/visitor, {args.requests} requests a visitor, one at a time, visitors in turn\n")
    print("| store | visitor's events | p50 | p99 | p50 vs 1 event |")
    print("|---|---|---|---|---|")
    for store, size, p50, p99, ratio in rows:
        print(f"| {store} | {size:,} | {p50:.2f} ms | {p99:.2f} ms | {ratio:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
