"""The consent state machine (issue 11): what is stored, held, run and dropped in each state."""

import itertools
import json

import pytest

from rtp_tag.commands import CallContext, Tag
from rtp_tag.config import TagConfig
from rtp_tag.consent import (
    MAX_HELD_CALLS,
    PRIVACY_KEY,
    ConsentedStorage,
    Privacy,
    PrivacySettings,
    State,
    read_signals,
)
from rtp_tag.outbox import Outbox
from rtp_tag.session import SessionLedger, VISITOR_KEY, visitor_id
from rtp_tag.storage import MemoryStorage

from test_commands import Console, Courier  # the fake console and courier the command tests use

PAGE = "https://www.site.example/"
T0 = 1_700_000_000.0
NO_SIGNALS = PrivacySettings()


class Personalization:
    def __init__(self):
        self.asked = []

    def show_campaigns(self, visitor_id, account, report=None):
        self.asked.append("campaigns")

    def visitor(self, visitor_id, account, callback):
        self.asked.append("visitor")
        callback({"status": 200, "results": {"matchedSegments": [{"id": "s", "name": "S"}]}})


class Site:
    """One browser (its localStorage survives pages) visiting pages of a site."""

    def __init__(self):
        self.local = MemoryStorage()
        self.session = MemoryStorage()
        self.forgotten = []
        self.ids = itertools.count(1)
        self.now = T0

    def page(self, settings=NO_SIGNALS, early=()):
        """A new page: the tag starts with the calls made before it was ready."""
        page = Page(self, settings)
        page.rtp_many(early)
        return page


class Page:
    def __init__(self, site, settings):
        self.site = site
        self.console = Console()
        self.personalization = Personalization()
        self.outbox = None
        self.privacy = Privacy(
            site.local,
            site.session,
            read_signals(settings, self.console),
            self.console,
            make_tag=self._make_tag,
            forget=site.forgotten.append,
            stored_visitor_id=lambda: site.local.get(VISITOR_KEY),
        )

    def _make_tag(self):
        allowed = lambda: self.privacy.tracking  # noqa: E731
        local = ConsentedStorage(self.site.local, allowed)
        self.outbox = Outbox(local, "tab")
        new_id = lambda: f"id-{next(self.site.ids)}"  # noqa: E731
        return Tag(
            config=TagConfig(collect_url="https://c.example/collect", api_url="https://c.example/", account="acme"),
            ledger=SessionLedger(ConsentedStorage(self.site.session, allowed), new_id),
            visitor_id=visitor_id(local, new_id),
            outbox=self.outbox,
            courier=Courier(),
            console=self.console,
            new_id=new_id,
            personalization=self.personalization,
            clock=lambda: self.site.now,  # the outbox is due and leased on the site's clock
        )

    def rtp(self, *args):
        self.rtp_many([args])

    def rtp_many(self, calls):
        contexts = []
        for args in calls:
            self.site.now += 1
            contexts.append((args, CallContext(url=PAGE, referrer="", ts=self.site.now)))
        self.privacy.call_many(contexts)

    def sent(self):
        """Values of the events waiting in the outbox (what will reach the collector)."""
        if self.outbox is None:
            return []
        batch = self.outbox.take(self.site.now + 3600)
        return [event["values"] or [event["type"]] for event in json.loads(batch.body)] if batch else []


def stored(site):
    return {**site.local.items, **{f"session:{k}": v for k, v in site.session.items.items()}}


def record(site):
    return json.loads(site.local.items[PRIVACY_KEY])


CONSENT_MODE = PrivacySettings(require_consent_attribute="")


# ---- without consent mode ------------------------------------------------------------


def test_without_consent_mode_the_tag_tracks_at_once():
    site = Site()
    page = site.page(early=[("send", "event", "A")])
    assert page.privacy.state is State.TRACKING
    assert page.sent() == [["A"]]
    assert VISITOR_KEY in site.local.items


# ---- consent mode: pending -----------------------------------------------------------


@pytest.mark.parametrize(
    "settings, early",
    [(CONSENT_MODE, []), (NO_SIGNALS, [("requireConsent",)])],
    ids=["data-require-consent", "rtp-requireConsent"],
)
def test_before_consent_nothing_is_stored_or_sent_and_calls_are_held(settings, early):
    site = Site()
    page = site.page(settings, early=[*early, ("send", "view"), ("send", "event", "A")])
    page.rtp("send", "event", "B")
    assert page.privacy.state is State.PENDING
    assert stored(site) == {} and page.sent() == []


def test_require_consent_anywhere_in_the_early_calls_applies_before_all_of_them():
    site = Site()
    page = site.page(early=[("send", "event", "A"), ("requireConsent",)])
    assert page.privacy.state is State.PENDING
    assert stored(site) == {}


def test_consent_runs_the_held_calls_in_order_and_is_remembered_in_one_key():
    site = Site()
    page = site.page(CONSENT_MODE, early=[("send", "view"), ("send", "event", "A")])
    page.rtp("send", "event", "B")
    page.rtp("consent", True)
    assert page.privacy.state is State.TRACKING
    assert page.sent() == [["view"], ["A"], ["B"]]
    assert record(site) == {"consent": True}


def test_a_later_page_after_consent_tracks_without_a_call():
    site = Site()
    site.page(CONSENT_MODE).rtp("consent", True)
    later = site.page(CONSENT_MODE, early=[("send", "event", "C")])
    assert later.privacy.state is State.TRACKING
    assert ["C"] in later.sent()


def test_past_100_held_calls_the_oldest_are_dropped_with_one_warning():
    site = Site()
    page = site.page(CONSENT_MODE)
    page.rtp_many([("send", "event", f"v{index}") for index in range(MAX_HELD_CALLS + 5)])
    assert len(page.console.warnings) == 1 and "100" in page.console.warnings[0]
    page.rtp("consent", True)
    sent = page.sent()
    assert sent[0] == ["v5"] and sent[-1] == [f"v{MAX_HELD_CALLS + 4}"] and len(sent) == MAX_HELD_CALLS


def test_refusal_drops_held_calls_and_stores_only_the_refusal():
    site = Site()
    page = site.page(CONSENT_MODE, early=[("send", "event", "A")])
    page.rtp("consent", False)
    page.rtp("send", "event", "B")
    assert page.privacy.state is State.REFUSED
    assert stored(site) == {PRIVACY_KEY: json.dumps({"consent": False}, separators=(",", ":"))}
    later = site.page(CONSENT_MODE, early=[("send", "event", "C")])
    assert later.privacy.state is State.REFUSED and later.sent() == [] and list(stored(site)) == [PRIVACY_KEY]
    later.rtp("consent", True)
    assert later.privacy.state is State.TRACKING and later.sent() == []  # refused calls stay dropped


def test_withdrawing_consent_removes_what_was_stored():
    site = Site()
    page = site.page(CONSENT_MODE)
    page.rtp("consent", True)
    page.rtp("send", "event", "A")
    assert VISITOR_KEY in site.local.items
    page.rtp("consent", False)
    assert list(stored(site)) == [PRIVACY_KEY]
    assert site.forgotten == []  # a refusal is not an erasure request: optOut is


@pytest.mark.parametrize("args", [("consent", "maybe"), ("consent",), ("consent", 1), ("consent", None)])
def test_bad_consent_values_give_one_error_naming_true_and_false_and_change_nothing(args):
    site = Site()
    page = site.page(CONSENT_MODE, early=[("send", "event", "A")])
    page.rtp(*args)
    assert len(page.console.errors) == 1
    assert "true or false" in page.console.errors[0] and page.console.errors[0].startswith("rtp: ")
    assert page.privacy.state is State.PENDING and stored(site) == {}
    page.rtp("consent", True)
    assert page.sent() == [["A"]]


# ---- personalization without consent -------------------------------------------------


@pytest.mark.parametrize("answer", [None, False], ids=["pending", "refused"])
def test_without_consent_get_visitor_answers_no_segments_and_asks_nothing(answer):
    site = Site()
    page = site.page(CONSENT_MODE)
    if answer is not None:
        page.rtp("consent", answer)
    answers = []
    page.rtp("get", "visitor", answers.append)
    page.rtp("get", "campaign", True)
    assert answers == [{"status": 200, "results": {}}]
    assert page.personalization.asked == []


def test_get_campaign_held_before_consent_runs_once_consent_is_given():
    site = Site()
    page = site.page(CONSENT_MODE, early=[("send", "view"), ("get", "campaign", True)])
    assert page.personalization.asked == []
    page.rtp("consent", True)
    assert page.personalization.asked == ["campaigns"]


def test_get_visitor_without_a_function_is_still_an_error_without_consent():
    page = Site().page(CONSENT_MODE)
    page.rtp("get", "visitor", "not a function")
    assert len(page.console.errors) == 1 and "callback must be a function" in page.console.errors[0]


# ---- opt-out -------------------------------------------------------------------------


def test_opt_out_removes_every_key_asks_to_forget_and_remembers_in_one_key():
    site = Site()
    page = site.page(early=[("send", "event", "A")])
    site.local.set("rtp:early:page", "[]")
    site.local.set("site's own", "kept")
    visitor = site.local.get(VISITOR_KEY)
    page.rtp("optOut")
    assert page.privacy.state is State.OPTED_OUT
    assert site.forgotten == [visitor]
    assert stored(site) == {PRIVACY_KEY: json.dumps({"optedOut": True}, separators=(",", ":")), "site's own": "kept"}
    page.rtp("send", "event", "B")
    page.rtp("consent", True)
    assert page.privacy.state is State.OPTED_OUT
    assert site.page(early=[("send", "event", "C")]).privacy.state is State.OPTED_OUT
    assert set(stored(site)) == {PRIVACY_KEY, "site's own"}


def test_opt_in_undoes_the_opt_out_with_a_new_visitor_id():
    site = Site()
    page = site.page(early=[("send", "event", "A")])
    before = site.local.get(VISITOR_KEY)
    page.rtp("optOut")
    page.rtp("optIn")
    assert page.privacy.state is State.TRACKING and PRIVACY_KEY not in site.local.items
    page.rtp("send", "event", "B")
    assert page.sent() == [["B"]]
    assert site.local.get(VISITOR_KEY) not in (None, before)


def test_opt_in_on_a_consent_mode_site_keeps_the_consent_given_before():
    site = Site()
    page = site.page(CONSENT_MODE)
    page.rtp("consent", True)
    page.rtp("optOut")
    page.rtp("optIn")
    assert page.privacy.state is State.TRACKING and record(site) == {"consent": True}


def test_opt_out_before_consent_stores_only_the_opt_out_and_forgets_no_one():
    site = Site()
    page = site.page(CONSENT_MODE, early=[("send", "event", "A")])
    page.rtp("optOut")
    assert site.forgotten == [] and list(stored(site)) == [PRIVACY_KEY]


# ---- browser signals -----------------------------------------------------------------

GPC = PrivacySettings(global_privacy_control=True)
DNT_HONOURED = PrivacySettings(do_not_track="1", do_not_track_attribute="")


@pytest.mark.parametrize("settings", [GPC, DNT_HONOURED], ids=["gpc", "dnt"])
def test_a_browser_signal_opts_out_storing_and_sending_nothing(settings):
    site = Site()
    page = site.page(settings, early=[("send", "view"), ("send", "event", "A")])
    answers = []
    page.rtp("get", "visitor", answers.append)
    assert page.privacy.state is State.OPTED_OUT
    assert stored(site) == {} and page.sent() == [] and site.forgotten == []
    assert answers == [{"status": 200, "results": {}}]


def test_a_visitor_tracked_before_turning_gpc_on_is_forgotten_and_erased():
    site = Site()
    site.page(early=[("send", "event", "A")])
    visitor = site.local.get(VISITOR_KEY)
    page = site.page(GPC)
    assert page.privacy.state is State.OPTED_OUT and site.forgotten == [visitor]
    assert VISITOR_KEY not in site.local.items


@pytest.mark.parametrize(
    "settings",
    [
        PrivacySettings(global_privacy_control=True, gpc_attribute="ignore"),
        PrivacySettings(do_not_track="1"),
        PrivacySettings(do_not_track="1", do_not_track_attribute="false"),
        PrivacySettings(do_not_track="0", do_not_track_attribute=""),
    ],
    ids=["gpc-ignored", "dnt-not-honoured", "dnt-attribute-false", "dnt-off"],
)
def test_signals_the_site_does_not_honour_leave_tracking_on(settings):
    page = Site().page(settings, early=[("send", "event", "A")])
    assert page.privacy.state is State.TRACKING and page.sent() == [["A"]]
    assert page.console.errors == []


def test_an_unknown_data_gpc_value_is_an_error_naming_ignore_and_gpc_is_honoured():
    page = Site().page(PrivacySettings(global_privacy_control=True, gpc_attribute="off"))
    assert len(page.console.errors) == 1
    assert '"ignore"' in page.console.errors[0] and page.console.errors[0].startswith("rtp: ")
    assert page.privacy.state is State.OPTED_OUT


def test_opt_in_does_not_override_gpc():
    site = Site()
    page = site.page(GPC)
    page.rtp("optIn")
    assert page.privacy.state is State.OPTED_OUT and len(page.console.warnings) == 1
    assert stored(site) == {}


# ---- other tabs ----------------------------------------------------------------------


def test_a_tab_follows_an_opt_out_made_in_another_tab():
    site = Site()
    first = site.page(early=[("send", "event", "A")])
    second = site.page()
    second.rtp("optOut")
    first.privacy.refresh()
    first.rtp("send", "event", "B")
    assert first.privacy.state is State.OPTED_OUT
    assert list(stored(site)) == [PRIVACY_KEY]


def test_consented_storage_writes_and_reads_nothing_when_not_allowed():
    inner = MemoryStorage({"rtp:visitor": "v"})
    allowed = [False]
    storage = ConsentedStorage(inner, lambda: allowed[0])
    storage.set("rtp:x", "1")
    assert storage.get("rtp:visitor") is None and storage.keys() == [] and "rtp:x" not in inner.items
    storage.remove("rtp:visitor")
    assert inner.items == {}
    allowed[0] = True
    storage.set("rtp:x", "1")
    assert storage.get("rtp:x") == "1"
