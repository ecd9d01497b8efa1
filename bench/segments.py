"""What a segment answer costs as a visitor's history grows: ``bench/segments.py``.

    .venv/bin/python bench/segments.py [--sizes 1,1000,100000] [--repeat 200]

For visitors with 1, 1,000 and 100,000 events (views of many pages, custom data,
referrers from searches, sessions, custom variables), prints per size:

- answer: matched segments + campaigns over the visitor's profile, with every rule
  kind configured (the work of ``/api/visitor`` + ``/api/campaigns`` once the store
  has the profile), median of ``--repeat`` runs;
- fold: the median cost of folding one more event into that profile (what a write adds);
- profile JSON: the stored size of the profile;
- refold: folding the whole history again (what a store without a kept profile does
  per answer), once.

Ratios are against the 1-event visitor measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from rtp_tag.collector.campaigns import parse_config
from rtp_tag.collector.profile import EMPTY_PROFILE, VisitorProfile, fold, fold_all
from rtp_tag.collector.segments import campaigns_to_show, matched_segments

CAMPAIGNS = """
[[segments]]
id = "wp"
name = "Whitepaper"
custom_data_contains = "whitepaper"
[[segments]]
id = "pricing"
name = "Pricing, not checkout"
pages_include = "/pricing*; /plans/*"
pages_exclude = "/checkout*"
[[segments]]
id = "search"
name = "Searched"
match = "any"
search_terms = "crm; automation"
referrer_contains = "news."
[[segments]]
id = "loyal"
name = "Loyal mobile gold"
visits = ">= 5"
device = "mobile; tablet"
custom_var1 = "gold"
[[campaigns]]
name = "A"
segment = "pricing"
zone = "hero"
text = "A"
after_views = 3
[[campaigns]]
name = "B"
segment = "loyal"
zone = "hero"
text = "B"
"""


def history(size: int) -> list[dict[str, Any]]:
    """``size`` events of one visitor: mostly views, some custom data, a session every 20."""
    events = []
    for number in range(size):
        session = f"s{number // 20}"
        if number % 5 == 4:
            events.append({"type": "event", "values": [f"download - whitepaper {number % 300}"], "ts": number,
                           "session_id": session, "url": "https://www.example.com/"})
        else:
            referrer = f"https://www.google.com/search?q=crm+{number % 400}" if number % 20 == 0 else ""
            props = {"customVar1": "gold" if number % 40 else "silver"} if number % 10 == 0 else {}
            events.append({"type": "view", "values": [], "ts": number, "session_id": session,
                           "url": f"https://www.example.com/pricing/{number % 500}", "referrer": referrer,
                           "props": props})
    return events


def median_seconds(work: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,1000,100000")
    parser.add_argument("--repeat", type=int, default=200)
    options = parser.parse_args()
    config = parse_config(CAMPAIGNS, "bench")
    rows = []
    for size in (int(text) for text in options.sizes.split(",")):
        events = history(size)
        started = time.perf_counter()
        profile: VisitorProfile = fold_all(events, EMPTY_PROFILE)
        refold = time.perf_counter() - started
        answer = median_seconds(
            lambda: (matched_segments(config, profile, "mobile"), campaigns_to_show(config, profile, "mobile")),
            options.repeat,
        )
        one_more = {"type": "view", "values": [], "ts": size, "session_id": "last",
                    "url": "https://www.example.com/new", "referrer": ""}
        fold_cost = median_seconds(lambda: fold(profile, one_more), options.repeat)
        rows.append((size, answer, fold_cost, len(profile.to_json()), refold))
    base = rows[0]
    print(f"{'events':>8} | {'answer':>16} | {'fold one event':>16} | {'profile JSON':>14} | {'refold all':>10}")
    for size, answer, fold_cost, json_size, refold in rows:
        print(
            f"{size:>8} | {answer * 1e6:8.1f} µs {answer / base[1]:5.2f}x | "
            f"{fold_cost * 1e6:8.1f} µs {fold_cost / base[2]:5.2f}x | "
            f"{json_size:>8} B {json_size / base[3]:4.1f}x | {refold * 1e3:7.1f} ms"
        )


if __name__ == "__main__":
    main()
