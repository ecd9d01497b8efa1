"""The numbers behind ``/api/report``, its CSV and the dashboard.

Definitions (the README repeats them for marketers):
- a campaign's *visitors* are those whose first impression of it falls in the period;
  its *control* visitors those whose first control exposure does;
- a visitor *converts* by sending the campaign's goal value (ignoring case, as segment
  rules do) after that first exposure and within 30 days of it: *directly* when the
  session that sent it had seen the campaign before, else *assisted*; a visitor counts
  at most once;
- *lift* is the treatment's conversion rate over the control's, minus 1; its 95%
  interval comes from the delta method on the log of that ratio of two proportions.
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..protocol import MAX_ACCOUNT_LENGTH
from .campaigns import Campaign, CampaignConfig, Segment
from .stores import Outcome, Store

DEFAULT_DAYS = 30
MAX_DAYS = 366
CONVERSION_WINDOW_MS = 30 * 86_400_000
"""Assisted conversions count up to 30 days after the visitor's first exposure."""
Z95 = 1.959964
DAY_MS = 86_400_000
CSV_COLUMNS = (
    "campaign", "segment", "impressions", "clicks", "ctr", "visitors", "direct_conversions",
    "assisted_conversions", "conversion_rate", "control_visitors", "control_conversions",
    "control_conversion_rate", "lift", "lift_ci95_low", "lift_ci95_high",
)


class ReportQueryError(ValueError):
    """Parameters a report cannot be made from; the message says what to send."""


@dataclass(frozen=True)
class Period:
    """The last ``days`` UTC days, today included."""

    days: int
    since_ms: int

    @classmethod
    def ending(cls, now: float, days: int) -> Period:
        today = int(now * 1000) // DAY_MS * DAY_MS
        return cls(days, today - (days - 1) * DAY_MS)

    def day_names(self) -> list[str]:
        return [_day_name(self.since_ms + index * DAY_MS) for index in range(self.days)]


def report_query(params: Mapping[str, str]) -> tuple[str, int]:
    """``account`` (required; empty for events sent without one) and ``days`` (1 to 366, default 30)."""
    account = params.get("account")
    if account is None:
        raise ReportQueryError("give ?account=, the account whose report you want (empty for events without one)")
    if len(account) > MAX_ACCOUNT_LENGTH:
        raise ReportQueryError(f"account is longer than {MAX_ACCOUNT_LENGTH} characters")
    raw_days = params.get("days", str(DEFAULT_DAYS))
    if not raw_days.isdigit() or not 1 <= int(raw_days) <= MAX_DAYS:
        raise ReportQueryError(f"days must be a whole number of days from 1 to {MAX_DAYS}, not {raw_days!r}")
    return account, int(raw_days)


def build_report(
    store: Store, config: CampaignConfig, account: str, days: int, now: float | None = None
) -> dict[str, Any]:
    """The report of ``account`` over the last ``days`` days, as ``/api/report`` answers it."""
    period = Period.ending(time.time() if now is None else now, days)
    value_days = store.value_days(account, period.since_ms)
    values_seen = sorted({value for value, _, _ in value_days})
    counts = store.campaign_counts(account, period.since_ms)
    configured = {campaign.name: campaign for campaign in config.campaigns}
    names = [*configured, *sorted(set(counts) - set(configured))]  # retired campaigns still report
    return {
        "account": account,
        "days": days,
        "since": _day_name(period.since_ms),
        "campaigns": [
            _campaign_row(store, account, period, name, configured.get(name), counts.get(name, {}), values_seen)
            for name in names
        ],
        "segments": [
            {"id": segment.id, "name": segment.name, "visitors": _segment_visitors(store, account, period, segment,
                                                                                    values_seen)}
            for segment in config.segments
        ],
        "values": _values(value_days, period),
    }


def lift_with_interval(treatment: Outcome, control: Outcome) -> tuple[float | None, list[float] | None]:
    """Treatment rate / control rate - 1, and its 95% interval by the delta method on
    the log ratio: var(log RR) = (1 - p1)/x1 + (1 - p0)/x0 for x conversions of n visitors."""
    x1, n1 = treatment.direct + treatment.assisted, treatment.visitors
    x0, n0 = control.direct + control.assisted, control.visitors
    if n0 == 0 or x0 == 0 or n1 == 0:
        return None, None
    p1, p0 = x1 / n1, x0 / n0
    lift = p1 / p0 - 1
    if x1 == 0:
        return lift, None
    spread = Z95 * math.sqrt((1 - p1) / x1 + (1 - p0) / x0)
    log_ratio = math.log(p1 / p0)
    return lift, [math.exp(log_ratio - spread) - 1, math.exp(log_ratio + spread) - 1]


def campaign_csv(report: Mapping[str, Any]) -> str:
    """The report's campaign table, one row per campaign, in the dashboard's terms."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in report["campaigns"]:
        control = row["control"]
        interval = row["lift_ci95"] or [None, None]
        writer.writerow(
            _cell(value)
            for value in (
                row["name"], row["segment"], row["impressions"], row["clicks"], row["ctr"], row["visitors"],
                row["conversions"]["direct"], row["conversions"]["assisted"], row["conversion_rate"],
                control["visitors"], control["conversions"], control["conversion_rate"],
                row["lift"], *interval,
            )
        )
    return out.getvalue()


def _campaign_row(
    store: Store,
    account: str,
    period: Period,
    name: str,
    campaign: Campaign | None,
    counts: Mapping[str, int],
    values_seen: list[str],
) -> dict[str, Any]:
    goal = campaign.goal if campaign else None
    goal_values = [value for value in values_seen if goal and value.casefold() == goal.casefold()]

    def outcome(kind: str) -> Outcome:
        return store.exposure_outcomes(account, name, kind, goal_values, period.since_ms, CONVERSION_WINDOW_MS)

    treatment, control = outcome("impression"), outcome("control")
    impressions, clicks = counts.get("impression", 0), counts.get("click", 0)
    lift, interval = lift_with_interval(treatment, control)
    return {
        "name": name,
        "segment": campaign.segment if campaign else None,
        "goal": goal,
        "holdout": campaign.holdout if campaign else None,
        "impressions": impressions,
        "clicks": clicks,
        "ctr": _rate(clicks, impressions),
        "visitors": treatment.visitors,
        "conversions": {"direct": treatment.direct, "assisted": treatment.assisted},
        "conversion_rate": _rate(treatment.direct + treatment.assisted, treatment.visitors),
        "control": {
            "visitors": control.visitors,
            "conversions": control.direct + control.assisted,
            "conversion_rate": _rate(control.direct + control.assisted, control.visitors),
        },
        "lift": lift,
        "lift_ci95": interval,
    }


def _segment_visitors(
    store: Store, account: str, period: Period, segment: Segment, values_seen: list[str]
) -> int | None:
    """Visitors who entered a custom data segment in the period (they sent a matching value,
    ignoring case, as the segment rules do); None for segments with other rules, whose
    membership the report's rollups cannot tell."""
    other_rules = (segment.pages_include, segment.pages_exclude, segment.referrer_contains, segment.search_terms,
                   segment.visits, segment.device, segment.custom_vars)
    if any(other_rules):
        return None
    if segment.custom_data is not None and segment.custom_data_contains is not None and segment.match == "all":
        return None  # both must hold: not countable from one value's senders
    exact = segment.custom_data.casefold() if segment.custom_data is not None else None
    part = segment.custom_data_contains.casefold() if segment.custom_data_contains is not None else None
    matching = [
        value for value in values_seen
        if value.casefold() == exact or (part is not None and part in value.casefold())
    ]
    return store.visitors_with_values(account, matching, period.since_ms)


def _values(value_days: list[tuple[str, str, int]], period: Period) -> list[dict[str, Any]]:
    """Per value, its sessions in the period and per day (every day of the period listed)."""
    per_value: dict[str, dict[str, int]] = {}
    for value, day, sessions in value_days:
        per_value.setdefault(value, {})[day] = sessions
    rows = [
        {
            "value": value,
            "sessions": sum(days.values()),
            "per_day": [{"day": day, "sessions": days.get(day, 0)} for day in period.day_names()],
        }
        for value, days in per_value.items()
    ]
    return sorted(rows, key=lambda row: (-row["sessions"], row["value"]))


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _cell(value: Any) -> Any:
    """A CSV cell: empty for no value, rates rounded to 4 decimals; text that a
    spreadsheet would run as a formula is quoted with a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _day_name(ms: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ms // 1000))
