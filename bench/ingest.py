"""How fast ``/collect`` stores events: SQLite vs PostgreSQL, 1 vs 2 workers, single
events vs batches of 20 (issues 9 and 10), and what SQLite's durable commits cost.

    .venv/bin/python bench/ingest.py [--seconds 10] [--connections 16] [--only sqlite,sqlite-normal,postgresql]

For each combination, a real ``rtp-tag serve`` on a new database (SQLite with its
durable ``synchronous=FULL``; PostgreSQL a throwaway cluster of Debian's server with
its durable defaults: fsync and synchronous_commit on; ``sqlite-normal`` is SQLite with
``synchronous=NORMAL``, which a power cut may cost the last commits, to show what FULL
costs) takes load from ``wrk``
(Debian's), a separate process: every request a new event or batch of 20, each
event with its own ``event_id``, for 1,000 visitors (so profiles are folded as in
production). Prints requests/s, events/s and wrk's p50/p99 latency, each row's
events/s against SQLite, 1 worker, single events, measured in the same run, and
the CPU time the collector's processes spent per request (Linux ``/proc``): what
bounds requests/s once commits are shared, and a figure that depends much less on
the machine's other load than requests/s do.
Needs a built tag in dist/ (the server serves it). A script that prints figures,
not a test.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rtp_tag.pytest_plugin import Collector  # noqa: E402
from rtp_tag.throwaway_postgres import ThrowawayPostgres  # noqa: E402

WRK_SCRIPT = """
local counter = 0
local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  batch = tonumber(args[1])
  run = args[2]
end
function request()
  local events = {}
  for i = 1, batch do
    counter = counter + 1
    events[i] = string.format(
      '{"type":"event","values":["bench %d"],"event_id":"%s-%d-%d","session_id":"s%d",' ..
      '"visitor_id":"v%d","account":"acme","url":"https://site.example/","ts":%d}',
      counter % 7, run, tid, counter, counter % 1000, counter % 1000, 1700000000000 + counter)
  end
  return wrk.format("POST", "/collect", {["Content-Type"] = "text/plain"}, "[" .. table.concat(events, ",") .. "]")
end
"""
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, seconds: int, connections: int, batch: int, run: str, script: Path) -> dict[str, float]:
    """wrk's requests/s and p50/p99 (ms) against ``url``; non-2xx answers are counted too."""
    done = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url, "--", str(batch), run],
        capture_output=True, text=True, check=True,
    )
    out = done.stdout

    def latency(share: str) -> float:
        found = re.search(rf"^\s+{share}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        assert found, out
        return float(found[1]) * _UNITS[found[2]]

    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert rate, out
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": float(rate[1]), "p50": latency("50"), "p99": latency("99"),
            "errors": float(errors[1]) if errors else 0.0}


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` and its live descendants (``--workers``)."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            continue  # ended meanwhile
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    tree = {pid}
    for _ in range(3):  # the server, its workers, anything they started
        tree |= {child for child, parent in parents.items() if parent in tree}
    return sum(times.get(member, 0.0) for member in tree)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--only", default="sqlite,sqlite-normal,postgresql")
    parser.add_argument("--dist", default=str(ROOT / "dist"))
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench/ingest.py needs wrk: apt-get install wrk", file=sys.stderr)
        return 2
    help_text = subprocess.run(
        [sys.executable, "-m", "rtp_tag.cli", "serve", "--help"], capture_output=True, text=True
    ).stdout
    no_limit = ("--rate-limit", "0") if "--rate-limit" in help_text else ()  # the load comes from one address
    stores = args.only.split(",")
    rows = []
    with tempfile.TemporaryDirectory() as folder, ThrowawayPostgres(fast=False) as postgres:
        script = Path(folder) / "events.lua"
        script.write_text(WRK_SCRIPT)
        for number, (store, workers, batch) in enumerate(
            (store, workers, batch) for store in stores for workers in (1, 2) for batch in (1, 20)
        ):
            file = Path(folder) / f"events-{number}.sqlite3"
            db = {
                "sqlite": str(file),
                "sqlite-normal": f"sqlite:///{file}?synchronous=NORMAL",  # file is absolute: sqlite:////tmp/...
            }.get(store) or postgres.create_database(f"ingest_{number}")
            collector = Collector(Path(args.dist), db, ("--workers", str(workers), *no_limit))
            collector.start()
            try:
                wrk(collector.url, 2, args.connections, batch, f"warm{number}", script)
                assert collector._process is not None
                cpu_before = cpu_seconds(collector._process.pid)
                figures = wrk(collector.url, args.seconds, args.connections, batch, f"run{number}", script)
                served = figures["rps"] * args.seconds
                figures["cpu_ms"] = (cpu_seconds(collector._process.pid) - cpu_before) * 1000 / served
            finally:
                collector.stop()
            rows.append((store, workers, batch, figures))
            print(f"done: {store}, {workers} worker(s), batch {batch}: {figures}", file=sys.stderr)
    baseline = rows[0][3]["rps"] * rows[0][2]
    print(f"\n/collect under wrk (2 threads, {args.connections} connections, {args.seconds} s a row)\n")
    print(
        "| store | workers | events a request | requests/s | events/s | p50 | p99 | non-2xx | events/s vs row 1 "
        "| collector CPU a request |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for store, workers, batch, f in rows:
        events = f["rps"] * batch
        print(
            f"| {store} | {workers} | {batch} | {f['rps']:,.0f} | {events:,.0f} | {f['p50']:.1f} ms | "
            f"{f['p99']:.1f} ms | {f['errors']:.0f} | {events / baseline:.2f}x | {f['cpu_ms']:.2f} ms |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
