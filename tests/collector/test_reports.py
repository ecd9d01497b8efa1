"""The report's numbers, from events stored in each real store (SQLite, PostgreSQL):
exposures, clicks, direct and assisted conversions, the control group, lift, values
and segments."""

import csv
import io
import itertools
import math
import sqlite3

import pytest

from rtp_tag.collector.campaigns import parse_config
from rtp_tag.collector.reports import (
    ReportQueryError,
    build_report,
    campaign_csv,
    lift_with_interval,
    report_query,
)
from rtp_tag.collector.stores import Outcome, SqliteStore, open_store

DAY = 86_400_000
NOW = 1_780_000_000.0  # seconds; a fixed "now" for the period
T0 = int(NOW * 1000) - 2 * DAY  # two days ago, in milliseconds
GOAL = "request - demo"
CONFIG = parse_config(
    f"""
[[segments]]
id = "wp"
name = "Whitepaper downloaders"
custom_data = "download - example whitepaper"

[[campaigns]]
name = "Follow-up"
segment = "wp"
zone = "hero"
text = "Join the demo"
holdout = 0.5
goal = "{GOAL}"
""",
    "test.toml",
)


class Visitor:
    """One visitor's events, written the way the tag sends them."""

    ids = itertools.count()

    def __init__(self, store, name, account="acme"):
        self.store, self.name, self.account = store, name, account
        self.session = f"{name}-s1"

    def new_session(self):
        self.session = f"{self.name}-s{next(self.ids)}"

    def send(self, kind, ts, values=(), campaign=None):
        event = {
            "type": kind, "values": list(values), "event_id": f"e{next(self.ids)}", "session_id": self.session,
            "visitor_id": self.name, "account": self.account, "url": "https://site.example/", "ts": ts,
        }
        if campaign:
            event["props"] = {"campaign": campaign}
        assert self.store.add([event]) == 1
        return event


@pytest.fixture
def store(db):
    store = open_store(db)
    yield store
    store.close()


def report(store, days=30, config=CONFIG, account="acme"):
    return build_report(store, config, account, days, now=NOW)


def campaign(store, **kwargs):
    [row] = report(store, **kwargs)["campaigns"]
    return row


def test_impressions_clicks_and_ctr_count_events(store):
    ann, bob = Visitor(store, "ann"), Visitor(store, "bob")
    ann.send("impression", T0, campaign="Follow-up")
    ann.send("impression", T0 + 1000, campaign="Follow-up")  # a second page
    ann.send("click", T0 + 2000, campaign="Follow-up")
    bob.send("impression", T0, campaign="Follow-up")
    row = campaign(store)
    assert (row["impressions"], row["clicks"], row["ctr"], row["visitors"]) == (3, 1, 1 / 3, 2)
    assert row["segment"] == "wp" and row["goal"] == GOAL


def test_a_resent_event_counts_once(store):
    ann = Visitor(store, "ann")
    event = ann.send("impression", T0, campaign="Follow-up")
    assert store.add([event]) == 0
    assert campaign(store)["impressions"] == 1


def test_the_goal_in_the_session_of_the_exposure_is_direct_later_within_30_days_assisted(store):
    direct, assisted, too_late, before = (Visitor(store, name) for name in ("direct", "assisted", "late", "before"))
    direct.send("impression", T0, campaign="Follow-up")
    direct.send("event", T0 + 5000, values=[GOAL])
    assisted.send("impression", T0 - 20 * DAY, campaign="Follow-up")
    assisted.new_session()
    assisted.send("event", T0, values=["Request - Demo"])  # goals match ignoring case, like segment rules
    too_late.send("impression", T0 - 29 * DAY, campaign="Follow-up")
    too_late.new_session()
    too_late.send("event", T0 + 2 * DAY, values=[GOAL])  # 31 days after the exposure
    before.send("event", T0, values=[GOAL])
    before.send("impression", T0 + 1000, campaign="Follow-up")  # converted before seeing it: no
    row = campaign(store, days=60)
    assert row["visitors"] == 4
    assert row["conversions"] == {"direct": 1, "assisted": 1}
    assert row["conversion_rate"] == 0.5


def test_a_later_exposed_session_that_converts_is_direct(store):
    ann = Visitor(store, "ann")
    ann.send("impression", T0, campaign="Follow-up")
    ann.new_session()
    ann.send("impression", T0 + DAY, campaign="Follow-up")
    ann.send("event", T0 + DAY + 10, values=[GOAL])
    assert campaign(store)["conversions"] == {"direct": 1, "assisted": 0}


def test_a_visitor_who_converts_twice_counts_once(store):
    ann = Visitor(store, "ann")
    ann.send("impression", T0, campaign="Follow-up")
    ann.send("event", T0 + 10, values=[GOAL])
    ann.new_session()
    ann.send("event", T0 + DAY, values=[GOAL])
    assert campaign(store)["conversions"] == {"direct": 1, "assisted": 0}


def test_control_visitors_convert_the_same_way_and_give_the_lift(store):
    for index in range(4):  # treatment: 4 visitors, 2 convert
        visitor = Visitor(store, f"t{index}")
        visitor.send("impression", T0, campaign="Follow-up")
        if index < 2:
            visitor.send("event", T0 + 10, values=[GOAL])
    for index in range(5):  # control: 5 visitors, 1 converts (assisted)
        visitor = Visitor(store, f"c{index}")
        visitor.send("control", T0, campaign="Follow-up")
        if index == 0:
            visitor.new_session()
            visitor.send("event", T0 + DAY, values=[GOAL])
    row = campaign(store)
    assert row["impressions"] == 4 and row["visitors"] == 4
    assert row["control"] == {"visitors": 5, "conversions": 1, "conversion_rate": 0.2}
    assert row["lift"] == pytest.approx(0.5 / 0.2 - 1)
    low, high = row["lift_ci95"]
    assert low < row["lift"] < high


def test_lift_is_null_without_control_conversions_and_its_interval_without_treatment_ones():
    assert lift_with_interval(Outcome(10, 2, 0), Outcome(0, 0, 0)) == (None, None)
    assert lift_with_interval(Outcome(10, 2, 0), Outcome(10, 0, 0)) == (None, None)
    assert lift_with_interval(Outcome(10, 0, 0), Outcome(10, 1, 0)) == (-1.0, None)


def test_the_interval_is_the_delta_method_on_the_log_ratio():
    lift, (low, high) = lift_with_interval(Outcome(1000, 150, 50), Outcome(1000, 100, 0))
    spread = 1.959964 * math.sqrt((1 - 0.2) / 200 + (1 - 0.1) / 100)
    assert lift == pytest.approx(1.0)
    assert (low, high) == pytest.approx((2 * math.exp(-spread) - 1, 2 * math.exp(spread) - 1))


def test_the_period_holds_visitors_first_exposed_in_it(store):
    old, recent = Visitor(store, "old"), Visitor(store, "recent")
    old.send("impression", T0 - 10 * DAY, campaign="Follow-up")
    recent.send("impression", T0, campaign="Follow-up")
    assert campaign(store, days=7)["visitors"] == 1
    assert campaign(store, days=7)["impressions"] == 1
    assert campaign(store, days=30)["visitors"] == 2


def test_other_accounts_are_not_counted(store):
    Visitor(store, "ann", account="other").send("impression", T0, campaign="Follow-up")
    assert campaign(store)["impressions"] == 0


def test_a_campaign_no_longer_configured_still_reports_its_events(store):
    Visitor(store, "ann").send("impression", T0, campaign="Retired")
    names = [(row["name"], row["segment"]) for row in report(store)["campaigns"]]
    assert names == [("Follow-up", "wp"), ("Retired", None)]


def test_values_count_sessions_per_day_and_segments_count_visitors(store):
    ann, bob = Visitor(store, "ann"), Visitor(store, "bob")
    ann.send("event", T0, values=["download - example whitepaper", "pricing"])
    ann.new_session()
    ann.send("event", T0 + DAY, values=["Download - Example Whitepaper"])
    bob.send("event", T0 + DAY, values=["pricing"])
    figures = report(store, days=3)
    days = [day["day"] for day in figures["values"][0]["per_day"]]
    assert len(days) == 3 and days == sorted(days)
    by_value = {row["value"]: [day["sessions"] for day in row["per_day"]] for row in figures["values"]}
    assert by_value == {"pricing": [1, 1, 0], "download - example whitepaper": [1, 0, 0],
                        "Download - Example Whitepaper": [0, 1, 0]}
    assert figures["values"][0] == {"value": "pricing", "sessions": 2, "per_day": figures["values"][0]["per_day"]}
    assert figures["segments"] == [{"id": "wp", "name": "Whitepaper downloaders", "visitors": 1}]


def test_values_sent_before_the_rollups_existed_are_counted(tmp_path):
    """A SQLite file of schema version 3 (before reports) is migrated with its values counted."""
    path = tmp_path / "old.sqlite3"
    store = SqliteStore(path)
    Visitor(store, "ann").send("event", T0, values=["pricing"])
    store.close()
    with sqlite3.connect(path) as db:  # back to version 3: no rollups
        for trigger in ("roll_up_campaign_event", "roll_up_values", "count_value_session"):
            db.execute(f"DROP TRIGGER {trigger}")
        for table in ("value_days", "value_sessions", "exposure_sessions", "exposures", "campaign_days"):
            db.execute(f"DROP TABLE {table}")
        db.execute("PRAGMA user_version = 3")
    reopened = SqliteStore(path)
    assert report(reopened)["values"][0]["sessions"] == 1
    reopened.close()


@pytest.mark.parametrize(
    "params, problem",
    [
        ({}, "give ?account="),
        ({"account": "acme", "days": "0"}, "days must be a whole number of days from 1 to 366, not '0'"),
        ({"account": "acme", "days": "x"}, "not 'x'"),
        ({"account": "acme", "days": "400"}, "from 1 to 366"),
        ({"account": "a" * 129}, "account is longer than 128"),
    ],
)
def test_bad_report_parameters_say_what_to_send(params, problem):
    with pytest.raises(ReportQueryError, match=problem.replace("?", r"\?")):
        report_query(params)


def test_report_parameters_default_to_30_days():
    assert report_query({"account": "acme"}) == ("acme", 30)


def test_the_csv_has_one_row_per_campaign_and_quotes_formulas(store):
    Visitor(store, "ann").send("impression", T0, campaign="=HYPERLINK(\"x\")")
    rows = list(csv.DictReader(io.StringIO(campaign_csv(report(store)))))
    assert [row["campaign"] for row in rows] == ["Follow-up", "'=HYPERLINK(\"x\")"]
    assert rows[1]["impressions"] == "1" and rows[1]["ctr"] == "0.0000" and rows[1]["lift"] == ""


def test_erasing_a_visitor_removes_them_from_the_report(store):
    ann, bob = Visitor(store, "ann"), Visitor(store, "bob")
    for visitor in (ann, bob):
        visitor.send("impression", T0, campaign="Follow-up")
        visitor.send("event", T0 + 10, values=[GOAL])
    store.delete_visitor("ann")
    row = campaign(store)
    assert row["visitors"] == 1 and row["conversions"] == {"direct": 1, "assisted": 0}
    assert report(store)["segments"][0]["visitors"] == 0  # bob never downloaded; ann's values are gone
    Visitor(store, "ann").send("event", T0 + 20, values=["download - example whitepaper"])
    assert report(store)["segments"][0]["visitors"] == 1


def test_retention_removes_the_per_visitor_rows_of_old_activity(store):
    ann = Visitor(store, "ann")
    ann.send("impression", T0 - 10 * DAY, campaign="Follow-up")
    ann.send("event", T0 - 10 * DAY, values=["pricing"])
    store.delete_received_before((T0 - 5 * DAY) / 1000)
    assert campaign(store)["visitors"] == 0
    assert report(store)["values"][0]["sessions"] == 1  # day counters hold no visitor ids: kept


def test_the_latest_events_are_the_newest_of_the_account_oldest_first(store):
    ann, other = Visitor(store, "ann"), Visitor(store, "zed", account="other")
    sent = [ann.send("view", T0 + n) for n in range(3)]
    other.send("view", T0 + 5)
    latest = store.latest_events(2, account="acme")
    assert [e["event_id"] for e in latest] == [sent[1]["event_id"], sent[2]["event_id"]]
    assert latest[0]["seq"] < latest[1]["seq"] and latest[0]["props"] == {}
    assert len(store.latest_events(10)) == 4


def test_a_segment_with_rules_beyond_custom_data_has_no_size_rather_than_a_wrong_one(store):
    config = parse_config(
        """
[[segments]]
id = "mobile"
name = "Mobile whitepaper readers"
custom_data = "download - example whitepaper"
device = "mobile"
""",
        "test.toml",
    )
    Visitor(store, "ann").send("event", T0, values=["download - example whitepaper"])
    assert report(store, config=config)["segments"] == [
        {"id": "mobile", "name": "Mobile whitepaper readers", "visitors": None}
    ]
