"""Holdout assignment: deterministic per visitor and campaign, and close to the configured share."""

from rtp_tag.collector.campaigns import Campaign
from rtp_tag.collector.holdout import CONTROL, TREATMENT, group_of


def campaign(name="Hero", holdout=0.5):
    return Campaign(name=name, segment="wp", zone="hero", text="Hi", holdout=holdout)


def test_a_visitor_is_in_the_same_group_every_time_it_is_asked():
    groups = {group_of(campaign(), "visitor-42") for _ in range(5)}
    assert len(groups) == 1


def test_the_share_held_back_is_close_to_the_holdout():
    visitors = [f"v{i}" for i in range(4000)]
    held = sum(group_of(campaign(holdout=0.1), v) == CONTROL for v in visitors)
    assert 320 <= held <= 480  # 10% of 4000 = 400; the bound is over 5 standard deviations (19)


def test_no_holdout_holds_no_one_back():
    assert {group_of(campaign(holdout=0.0), f"v{i}") for i in range(500)} == {TREATMENT}


def test_groups_of_two_campaigns_are_independent():
    visitors = [f"v{i}" for i in range(2000)]
    both = sum(group_of(campaign("A"), v) == CONTROL and group_of(campaign("B"), v) == CONTROL for v in visitors)
    assert 400 <= both <= 600  # a quarter (500) if independent; identical hashes would give 1000
