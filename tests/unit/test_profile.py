"""The visitor profile: folded one event at a time, bounded in size, the same
whatever order late events arrive in, and stored as JSON."""

import random

from rtp_tag.collector.campaigns import CampaignConfig, Segment, Visits
from rtp_tag.collector.profile import (
    EMPTY_PROFILE,
    MAX_DISTINCT,
    MAX_SESSIONS,
    RECENT_VIEWS,
    VisitorProfile,
    fold,
    fold_all,
)
from rtp_tag.collector.segments import memberships

SITE = "https://www.example.com"


def view(path, ts, session="s1", referrer="", **props):
    return {"type": "view", "values": [], "ts": ts, "session_id": session, "url": SITE + path,
            "referrer": referrer, **({"props": props} if props else {})}


def event(value, ts, session="s1"):
    return {"type": "event", "values": [value], "ts": ts, "session_id": session, "url": SITE + "/"}


VISIT = [
    view("/", 1000, "a", referrer="https://www.google.com/search?q=crm+tools"),
    view("/pricing", 2000, "a", referrer=SITE + "/", customVar1="gold"),
    event("download - whitepaper", 2500, "a"),
    view("/blog/one", 3000, "a"),
    view("/", 9000, "b", referrer="https://news.example.org/a"),
    view("/checkout", 9500, "b"),
]
EVERY_KIND = CampaignConfig(segments=(
    Segment(id="data", name="D", custom_data="download - whitepaper"),
    Segment(id="pages", name="P", pages_include=("/pricing",)),
    Segment(id="not-blog", name="N", pages_exclude=("/blog*",)),
    Segment(id="news", name="R", referrer_contains=("news",)),
    Segment(id="search", name="S", search_terms=("crm",)),
    Segment(id="visits", name="V", visits=Visits(">=", 2)),
    Segment(id="var", name="C", custom_vars=(("customVar1", "gold"),)),
    Segment(id="any", name="A", match="any", custom_data="nope", pages_include=("/checkout",)),
))


def answers(profile):
    return [(m.segment.id, m.views_since_entering) for m in memberships(EVERY_KIND, profile, "desktop")]


def test_fold_records_what_each_rule_kind_needs():
    profile = fold_all(VISIT)
    assert profile.values == {"download - whitepaper": (2500, 2)}
    assert set(profile.pages) == {"www.example.com/", "www.example.com/pricing", "www.example.com/blog/one",
                                  "www.example.com/checkout"}
    assert profile.pages["www.example.com/"] == (1000, 0)  # the first view of the page
    assert profile.referrers == {"www.google.com/search": (1000, 0), "news.example.org/a": (9000, 4)}
    assert profile.searches == {"crm tools": (1000, 0)}
    assert profile.visits() == 2
    assert profile.custom_var("customVar1") == ("gold", (2000, 1))
    # Views after entering: not-blog is out (/blog/one was viewed); visits >= 2 entered at visit b.
    assert answers(profile) == [("data", 3), ("pages", 3), ("news", 1), ("search", 4), ("visits", 1),
                                ("var", 3), ("any", 0)]


def test_fold_leaves_the_profile_it_was_given_unchanged():
    before = fold_all(VISIT[:3])
    snapshot = before.to_json()
    fold(before, VISIT[3])
    fold(before, view("/new", 1, "c", customVar1="x"))
    assert before.to_json() == snapshot


def test_late_events_give_the_same_answers_in_any_arrival_order():
    in_order = answers(fold_all(VISIT))
    shuffler = random.Random(12)
    for _ in range(30):
        arrival = list(VISIT)
        shuffler.shuffle(arrival)
        assert answers(fold_all(arrival)) == in_order, [e["ts"] for e in arrival]


def test_a_late_event_of_a_known_session_is_not_a_new_visit():
    profile = fold_all([view("/", 5000, "a"), view("/", 9000, "b"), event("x", 4000, "a")])
    assert profile.visits() == 2
    assert profile.sessions["a"] == (4000, 2)  # the session began with the late event


def test_the_profile_stays_bounded_however_many_events_it_holds():
    small = fold_all(VISIT)
    profile = small
    for number in range(3000):
        session = f"s{number // 10}"
        profile = fold(profile, view(f"/page/{number}", 10_000 + number, session,
                                     referrer=f"https://site{number}.example.net/?q=term{number}",
                                     customVar2=f"v{number}"))
        profile = fold(profile, event(f"value {number}", 10_000 + number, session))
    assert profile.folded == 6000 + len(VISIT)
    assert max(map(len, (profile.values, profile.pages, profile.referrers, profile.searches))) == MAX_DISTINCT
    assert len(profile.sessions) == MAX_SESSIONS and profile.visits() == 302
    assert len(profile.recent_views) == RECENT_VIEWS
    assert len(profile.custom_vars["customVar2"]) <= 10
    assert len(profile.to_json()) < 64 * 1024
    # The earliest facts are kept: what put the visitor in a segment stays.
    assert answers(profile)[:2] == [("data", 9), ("pages", 9)]


def test_a_forgotten_old_session_is_not_counted_again_when_its_late_event_arrives():
    profile = EMPTY_PROFILE
    for number in range(MAX_SESSIONS + 5):
        profile = fold(profile, view("/", 1000 + number, f"s{number}"))
    assert profile.visits() == MAX_SESSIONS + 5
    assert fold(profile, event("late", 1001, "s1")).visits() == MAX_SESSIONS + 5


def test_views_after_an_entry_are_counted_up_to_the_recent_views_kept():
    profile = fold_all(view("/", ts) for ts in range(100, 2100, 100))
    assert profile.views_after((950, 99)) == RECENT_VIEWS  # 11 after: all after_views needs is 9
    assert profile.views_after((1750, 0)) == 3
    assert profile.views_after((2000, 19)) == 0


def test_the_profile_round_trips_through_json():
    profile = fold_all(VISIT)
    again = VisitorProfile.from_json(profile.to_json())
    assert again == profile
    assert answers(again) == answers(profile)
    assert fold(again, VISIT[0]) == fold(profile, VISIT[0])


def test_json_from_a_later_version_with_more_keys_is_read():
    text = fold_all(VISIT).to_json()[:-1] + ',"exposures":{"Hero":[1,2]}}'
    assert VisitorProfile.from_json(text) == fold_all(VISIT)


def test_events_of_unknown_types_only_count_toward_visits():
    profile = fold_all([{"type": "impression", "values": [], "ts": 5, "session_id": "z", "props": {"campaign": "Hero"}}])
    assert profile.visits() == 1 and not profile.values and not profile.pages and not profile.recent_views
