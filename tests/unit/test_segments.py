"""The rule engine: which segments a visitor is in, and which campaigns they see."""

import itertools

from rtp_tag.collector.campaigns import Campaign, CampaignConfig, Segment
from rtp_tag.collector.segments import (
    campaigns_to_show,
    events_of_account,
    matched_segments,
    memberships,
    rule_matches,
)

WHITEPAPER = Segment(id="wp", name="Whitepaper downloaders", custom_data="download - example whitepaper")
PRICING = Segment(id="pricing", name="Pricing readers", custom_data_contains="pricing")
FOLLOW_UP = Campaign(name="Follow-up", segment="wp", zone="hero", text="Join the live demo")
CONFIG = CampaignConfig(segments=(WHITEPAPER, PRICING), campaigns=(FOLLOW_UP,))
_clock = itertools.count(1_000)


def event(*values, ts=None, session="s1", account=""):
    return {"type": "event", "values": list(values), "ts": next(_clock) if ts is None else ts,
            "session_id": session, "account": account}


def view(ts=None, session="s1", account=""):
    return {"type": "view", "values": [], "ts": next(_clock) if ts is None else ts,
            "session_id": session, "account": account}


def with_after_views(count):
    return CampaignConfig(
        segments=(WHITEPAPER,),
        campaigns=(Campaign(name="Later", segment="wp", zone="hero", text="Later", after_views=count),),
    )


def test_an_exact_rule_matches_the_value_ignoring_case():
    assert rule_matches(WHITEPAPER, "download - example whitepaper")
    assert rule_matches(WHITEPAPER, "Download - Example WHITEPAPER")
    assert not rule_matches(WHITEPAPER, "download - example whitepaper 2")
    assert not rule_matches(WHITEPAPER, "download")


def test_a_contains_rule_matches_part_of_a_value_ignoring_case():
    assert rule_matches(PRICING, "Pricing page")
    assert rule_matches(PRICING, "read the PRICING")
    assert not rule_matches(PRICING, "price")


def test_a_new_visitor_is_in_no_segment_and_sees_no_campaign():
    assert matched_segments(CONFIG, []) == []
    assert campaigns_to_show(CONFIG, [view()]) == []


def test_right_after_the_click_the_visitor_is_in_the_segment():
    events = [view(), event("download - example whitepaper")]
    assert matched_segments(CONFIG, events) == [WHITEPAPER]
    assert campaigns_to_show(CONFIG, events) == [FOLLOW_UP]


def test_other_values_do_not_put_the_visitor_in_the_segment():
    assert matched_segments(CONFIG, [event("MyEvent", "webinar link")]) == []


def test_any_value_of_an_array_can_match():
    assert matched_segments(CONFIG, [event("MyEvent", "download - example whitepaper")]) == [WHITEPAPER]


def test_membership_lasts_across_sessions():
    events = [event("download - example whitepaper", session="s1"), view(session="s2")]
    assert matched_segments(CONFIG, events) == [WHITEPAPER]


def test_segments_come_in_the_files_order():
    events = [event("pricing table"), event("download - example whitepaper")]
    assert matched_segments(CONFIG, events) == [WHITEPAPER, PRICING]


def test_after_views_counts_views_after_entering_the_segment():
    config = with_after_views(2)
    events = [view(), view(), event("download - example whitepaper")]  # views before do not count
    assert campaigns_to_show(config, events) == []
    events.append(view())
    assert campaigns_to_show(config, events) == []
    events.append(view())
    assert [c.name for c in campaigns_to_show(config, events)] == ["Later"]
    events.append(view())
    assert [c.name for c in campaigns_to_show(config, events)] == ["Later"]


def test_the_first_matching_event_is_where_the_visitor_entered():
    events = [event("download - example whitepaper"), view(), event("Download - example whitepaper"), view()]
    assert memberships(with_after_views(2), events)[0].views_since_entering == 2


def test_events_count_in_the_order_the_visitor_made_them_not_as_they_arrived():
    # The click was delivered late (after an outage), after the view that followed it.
    events = [view(ts=3000), event("download - example whitepaper", ts=2000)]
    assert memberships(CONFIG, events)[0].views_since_entering == 1


def test_a_campaign_of_a_segment_the_visitor_is_not_in_is_not_shown():
    config = CampaignConfig(
        segments=(WHITEPAPER, PRICING),
        campaigns=(Campaign(name="Pricing", segment="pricing", zone="hero", text="Pricing"), FOLLOW_UP),
    )
    shown = campaigns_to_show(config, [event("download - example whitepaper")])
    assert [c.name for c in shown] == ["Follow-up"]


def test_only_the_pages_account_counts_when_one_is_given():
    events = [event("download - example whitepaper", account="other"), view(account="acme")]
    assert matched_segments(CONFIG, events_of_account(events, "acme")) == []
    assert matched_segments(CONFIG, events_of_account(events, "other")) == [WHITEPAPER]
    assert matched_segments(CONFIG, events_of_account(events, None)) == [WHITEPAPER]


def test_a_visitor_without_segments_configured_matches_nothing():
    assert matched_segments(CampaignConfig(), [event("download - example whitepaper")]) == []
