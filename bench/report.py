"""How long ``/api/report`` takes for an account with 1,000,000 stored events (issue 13).

    .venv/bin/python bench/report.py [--events 1000000] [--db URL_OR_PATH] [--runs 5]

Fills a store (a throwaway SQLite file by default; a PostgreSQL URL also works)
through ``Store.add`` in batches of 500, as the collector does, with a month of
traffic of one account: 50,000 visitors, page views, custom data values, and three
campaigns' impressions, clicks and control exposures. Then prints, each as the
median (min-max) of N runs:

- the report (``reports.build_report``, what ``/api/report?days=30`` and ``days=7``
  compute), read from the rollups the inserts maintained;
- the baseline: one full scan of the account's events (``count(*) GROUP BY type``),
  the least a report computed from the events themselves would cost;
- ingest: events stored per second with the rollups, and the time to insert the
  same events into a bare copy of the events table (no triggers) as its baseline.

A script that prints figures, not a test.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rtp_tag.collector.campaigns import parse_config  # noqa: E402
from rtp_tag.collector.reports import build_report  # noqa: E402
from rtp_tag.collector.stores import SqliteStore, Store, open_store  # noqa: E402

ACCOUNT = "bench"
DAY_MS = 86_400_000
BATCH = 500
VISITORS = 50_000
CONFIG = parse_config(
    """
[[segments]]
id = "wp"
name = "Whitepaper downloaders"
custom_data = "download - example whitepaper"
[[segments]]
id = "pricing"
name = "Pricing readers"
custom_data_contains = "pricing"

[[campaigns]]
name = "Whitepaper follow-up"
segment = "wp"
zone = "hero"
text = "Join the demo"
holdout = 0.2
goal = "register - webinar"
[[campaigns]]
name = "Pricing nudge"
segment = "pricing"
zone = "aside"
text = "Talk to sales"
holdout = 0.1
goal = "request - quote"
[[campaigns]]
name = "Summer banner"
segment = "wp"
zone = "banner"
text = "Summer offer"
""",
    "bench",
)
VALUES = ["download - example whitepaper", "register - webinar", "request - quote", "pricing - enterprise",
          *(f"article - {n}" for n in range(40))]


def traffic(count: int, now_ms: int, seed: int = 13):
    """``count`` events of one account over the last 30 days, in batches."""
    rng = random.Random(seed)
    campaigns = [c.name for c in CONFIG.campaigns]
    batch = []
    for n in range(count):
        visitor = rng.randrange(VISITORS)
        session = f"s{visitor}-{rng.randrange(4)}"
        ts = now_ms - rng.randrange(30 * DAY_MS)
        roll = rng.random()
        event = {"event_id": f"e{n}", "session_id": session, "visitor_id": f"v{visitor}", "account": ACCOUNT,
                 "url": "https://site.example/page", "ts": ts, "values": []}
        if roll < 0.55:
            event["type"] = "view"
        elif roll < 0.75:
            event["type"] = "event"
            event["values"] = rng.sample(VALUES, rng.choice((1, 1, 2)))
        else:
            event["type"] = "impression" if roll < 0.9 else "click" if roll < 0.95 else "control"
            event["props"] = {"campaign": rng.choice(campaigns)}
        batch.append(event)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def timed(work, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        samples.append(time.perf_counter() - start)
    return samples


def show(name: str, samples: list[float], baseline: list[float] | None = None) -> None:
    median = statistics.median(samples)
    line = f"{name:<44} {median * 1000:9.1f} ms  ({min(samples) * 1000:.1f}-{max(samples) * 1000:.1f})"
    if baseline:
        line += f"  {median / statistics.median(baseline):.2f}x the baseline"
    print(line, flush=True)


def bare_insert_seconds(events_file: Path, count: int, now_ms: int) -> float:
    """Insert the same traffic into a copy of the events table without the rollups."""
    bare = sqlite3.connect(events_file, isolation_level=None)
    bare.execute("PRAGMA journal_mode=WAL")
    bare.execute(
        'CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE, '
        'type TEXT NOT NULL, "values" TEXT NOT NULL, session_id TEXT NOT NULL, visitor_id TEXT NOT NULL, '
        'account TEXT NOT NULL, url TEXT NOT NULL, ts INTEGER NOT NULL, props TEXT NOT NULL)'
    )
    import json

    start = time.perf_counter()
    for batch in traffic(count, now_ms):
        bare.execute("BEGIN IMMEDIATE")
        bare.executemany(
            'INSERT OR IGNORE INTO events (event_id, type, "values", session_id, visitor_id, account, url, ts, props) '
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(e["event_id"], e["type"], json.dumps(e["values"]), e["session_id"], e["visitor_id"], e["account"],
              e["url"], e["ts"], json.dumps(e.get("props", {}))) for e in batch],
        )
        bare.execute("COMMIT")
    seconds = time.perf_counter() - start
    bare.close()
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--db", help="a SQLite path or PostgreSQL URL (default: a throwaway SQLite file)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    now_ms = int(time.time() * 1000)
    with tempfile.TemporaryDirectory() as scratch:
        target = args.db or str(Path(scratch) / "bench.sqlite3")
        store: Store = SqliteStore(target, synchronous="NORMAL") if not args.db else open_store(target)
        print(f"storing {args.events:,} events in {target} ...", flush=True)
        start = time.perf_counter()
        for batch in traffic(args.events, now_ms):
            store.add(batch)
        ingest = time.perf_counter() - start
        bare = bare_insert_seconds(Path(scratch) / "bare.sqlite3", args.events, now_ms)
        print(f"{'ingest with rollups':<44} {args.events / ingest:9.0f} events/s "
              f"({ingest:.1f} s; bare events table {bare:.1f} s: {ingest / bare:.2f}x)")

        def scan() -> None:
            if isinstance(store, SqliteStore):
                with sqlite3.connect(target) as db:
                    db.execute("SELECT type, count(*) FROM events WHERE account = ? GROUP BY type",
                               (ACCOUNT,)).fetchall()
            else:
                store.campaign_counts(ACCOUNT, 0)  # PostgreSQL: no bare-scan baseline here

        baseline = timed(scan, args.runs)
        show("baseline: one scan of the account's events", baseline)
        for days in (30, 7):
            report = build_report(store, CONFIG, ACCOUNT, days)
            show(f"report, days={days}", timed(lambda: build_report(store, CONFIG, ACCOUNT, days), args.runs),
                 baseline)
        top = report["campaigns"][0]
        print(f"(check: {top['name']}: {top['impressions']:,} impressions, {top['visitors']:,} visitors, "
              f"{top['control']['visitors']:,} control visitors, lift {top['lift']})")
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
