"""The rule engine: which segments a visitor is in, and which campaigns they see,
evaluated over the profile folded from the visitor's events."""

import itertools

from rtp_tag.collector import segments
from rtp_tag.collector.campaigns import Campaign, CampaignConfig, Segment, Visits
from rtp_tag.collector.profile import fold_all

WHITEPAPER = Segment(id="wp", name="Whitepaper downloaders", custom_data="download - example whitepaper")
PRICING = Segment(id="pricing", name="Pricing readers", custom_data_contains="pricing")
FOLLOW_UP = Campaign(name="Follow-up", segment="wp", zone="hero", text="Join the live demo")
CONFIG = CampaignConfig(segments=(WHITEPAPER, PRICING), campaigns=(FOLLOW_UP,))
_clock = itertools.count(1_000)


def matched_segments(config, events, device=None):
    return segments.matched_segments(config, fold_all(events), device)


def memberships(config, events, device=None):
    return segments.memberships(config, fold_all(events), device)


def campaigns_to_show(config, events, device=None):
    return segments.campaigns_to_show(config, fold_all(events), device)


def rule_matches(segment, value):
    return matched_segments(CampaignConfig(segments=(segment,)), [event(value)]) == [segment]


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


def test_a_visitor_without_segments_configured_matches_nothing():
    assert matched_segments(CampaignConfig(), [event("download - example whitepaper")]) == []


# Rule kinds beyond custom data. Pages are views of URLs on the site; a view's referrer
# is where it came from.
SITE = "https://www.example.com"


def page(path, referrer="", ts=None, session="s1", **props):
    return {"type": "view", "values": [], "ts": next(_clock) if ts is None else ts, "session_id": session,
            "account": "", "url": SITE + path, "referrer": referrer, **({"props": props} if props else {})}


def only(**rules):
    return CampaignConfig(segments=(Segment(id="s", name="S", **rules),))


def is_in(rules, events, device=None):
    return matched_segments(only(**rules), events, device) != []


def views_since_entering(rules, events, device=None):
    return memberships(only(**rules), events, device)[0].views_since_entering


def test_pages_include_matches_a_visited_page_by_path_or_host_with_wildcards():
    events = [page("/pricing/enterprise")]
    assert is_in({"pages_include": ("/pricing/*",)}, events)
    assert is_in({"pages_include": ("/PRICING*",)}, events)
    assert is_in({"pages_include": ("/blog*", "/pricing/enterprise")}, events)  # any of them
    assert is_in({"pages_include": ("https://www.example.com/pricing/*",)}, events)
    assert is_in({"pages_include": ("*.example.com/*/enterprise",)}, events)
    assert not is_in({"pages_include": ("/pricing",)}, events)  # no wildcard: the whole path
    assert not is_in({"pages_include": ("/blog*",)}, events)
    assert not is_in({"pages_include": ("/pricing/*",)}, [event("/pricing/x")])  # a custom data value is no page


def test_pages_include_enters_at_the_first_matching_view():
    events = [page("/"), page("/pricing"), page("/about"), page("/pricing"), page("/contact")]
    assert views_since_entering({"pages_include": ("/pricing",)}, events) == 3


def test_pages_exclude_holds_until_an_excluded_page_is_viewed():
    events = [page("/"), page("/pricing")]
    assert is_in({"pages_exclude": ("/checkout*",)}, events)
    assert views_since_entering({"pages_exclude": ("/checkout*",)}, events) == 2  # held all along
    assert is_in({"pages_exclude": ("/checkout*",)}, [])  # a visitor with no views yet
    assert not is_in({"pages_exclude": ("/checkout*",)}, events + [page("/checkout/pay")])


def test_referrer_contains_matches_a_view_coming_from_another_site():
    events = [page("/", referrer="https://news.example.org/story?id=1"), page("/b", referrer=SITE + "/")]
    assert is_in({"referrer_contains": ("NEWS.example",)}, events)
    assert is_in({"referrer_contains": ("other", "news.example.org/story")}, events)
    assert not is_in({"referrer_contains": ("www.example.com",)}, events)  # the site's own pages are no source
    assert views_since_entering({"referrer_contains": ("news",)}, events) == 1


def test_search_terms_come_from_a_search_engines_referrer():
    google = "https://www.google.co.uk/search?q=Best+CRM+software&hl=en"
    yahoo = "https://search.yahoo.com/search?p=marketing%20automation"
    assert is_in({"search_terms": ("crm",)}, [page("/", referrer=google)])
    assert is_in({"search_terms": ("best crm",)}, [page("/", referrer=google)])
    assert is_in({"search_terms": ("webinar", "automation")}, [page("/", referrer=yahoo)])
    assert not is_in({"search_terms": ("crm",)}, [page("/", referrer=yahoo)])
    assert not is_in({"search_terms": ("crm",)}, [page("/", referrer="https://www.google.com/")])
    assert not is_in({"search_terms": ("crm",)}, [page("/?q=crm", referrer=SITE + "/?q=crm")])  # own site


def test_visits_count_sessions_with_each_operator():
    one_visit = [page("/", session="a"), page("/b", session="a")]
    three_visits = one_visit + [page("/", session="b"), page("/", session="c")]
    assert is_in({"visits": Visits("=", 1)}, one_visit) and not is_in({"visits": Visits("=", 1)}, three_visits)
    assert is_in({"visits": Visits(">=", 3)}, three_visits) and not is_in({"visits": Visits(">=", 3)}, one_visit)
    assert is_in({"visits": Visits("<=", 2)}, one_visit) and not is_in({"visits": Visits("<=", 2)}, three_visits)


def test_a_visits_rule_enters_at_the_start_of_that_visit():
    events = [page("/", session="a"), page("/", session="a"), page("/", session="b"), page("/", session="b")]
    assert views_since_entering({"visits": Visits(">=", 2)}, events) == 1  # the visit's first view is the entry
    assert views_since_entering({"visits": Visits("<=", 2)}, events) == 4  # held all along


def test_device_is_the_requests_device_class():
    assert is_in({"device": ("mobile",)}, [], device="mobile")
    assert is_in({"device": ("mobile", "tablet")}, [page("/")], device="tablet")
    assert not is_in({"device": ("mobile",)}, [page("/")], device="desktop")
    assert not is_in({"device": ("mobile",)}, [page("/")])  # unknown device
    assert views_since_entering({"device": ("desktop",)}, [page("/"), page("/")], device="desktop") == 2


def test_a_custom_variable_rule_matches_its_latest_value_ignoring_case():
    gold = [page("/", customVar1="Gold")]
    assert is_in({"custom_vars": (("customVar1", "gold"),)}, gold)
    assert not is_in({"custom_vars": (("customVar2", "gold"),)}, gold)
    assert not is_in({"custom_vars": (("customVar1", "silver"),)}, gold)
    later_silver = gold + [page("/"), page("/", customVar1="silver")]  # views without the variable keep it
    assert not is_in({"custom_vars": (("customVar1", "gold"),)}, later_silver)
    assert is_in({"custom_vars": (("customVar1", "silver"),)}, later_silver)


def test_a_custom_variable_rule_enters_when_the_variable_took_that_value():
    events = [page("/", customVar1="free"), page("/", customVar1="gold"), page("/"), page("/", customVar1="GOLD")]
    assert views_since_entering({"custom_vars": (("customVar1", "gold"),)}, events) == 2


def test_match_all_needs_every_rule_and_enters_when_the_last_one_came_true():
    rules = {"custom_data": "download", "pages_include": ("/pricing",)}
    assert not is_in(rules, [event("download")])
    assert not is_in(rules, [page("/pricing")])
    events = [page("/pricing"), page("/a"), event("download"), page("/b")]
    assert is_in(rules, events)
    assert views_since_entering(rules, events) == 1
    assert not is_in({**rules, "device": ("mobile",)}, events, device="desktop")


def test_match_any_needs_one_rule_and_enters_when_the_first_one_came_true():
    rules = {"match": "any", "custom_data": "download", "pages_include": ("/pricing",)}
    assert is_in(rules, [event("download")])
    assert is_in(rules, [page("/pricing")])
    assert not is_in(rules, [page("/about")])
    events = [page("/pricing"), page("/a"), event("download"), page("/b")]
    assert views_since_entering(rules, events) == 2
    assert is_in({"match": "any", "device": ("mobile",), "pages_include": ("/x",)}, [], device="mobile")


def test_exact_and_contains_custom_data_rules_combine_like_other_rules():
    rules = {"custom_data": "download", "custom_data_contains": "webinar"}
    assert not is_in(rules, [event("download")])
    assert is_in(rules, [event("download"), event("webinar signup")])
    assert is_in({**rules, "match": "any"}, [event("webinar signup")])


def test_late_events_count_where_they_happened_for_every_entry():
    # An outbox emptied after an outage: the views arrived first, the older events later.
    on_time = [page("/pricing", ts=1000), page("/a", ts=2000), event("download", ts=2500), page("/b", ts=3000)]
    late = [on_time[3], on_time[1], on_time[2], on_time[0]]
    for rules in ({"custom_data": "download"}, {"pages_include": ("/pricing",)},
                  {"match": "any", "custom_data": "download", "pages_include": ("/pricing",)}):
        assert views_since_entering(rules, late) == views_since_entering(rules, on_time), rules
