import itertools
import json

import pytest

from rtp_tag.commands import CallContext, Tag
from rtp_tag.config import TagConfig
from rtp_tag.outbox import LEASE_SECONDS, Outbox
from rtp_tag.protocol import MAX_ACCOUNT_LENGTH, check_event
from rtp_tag.session import SessionLedger
from rtp_tag.storage import MemoryStorage

PAGE = "https://www.site.example/whitepaper.html"
T0 = 1_700_000_000.0


class Console:
    def __init__(self):
        self.errors = []
        self.warnings = []

    def error(self, message):
        self.errors.append(message)

    def warn(self, message):
        self.warnings.append(message)


class Courier:
    """Counts the tag's requests to deliver; the events themselves are read from the outbox."""

    def __init__(self):
        self.flushes = 0

    def flush(self):
        self.flushes += 1


class Personalization:
    def __init__(self):
        self.calls = []

    def show_campaigns(self, visitor_id, account, report):
        self.calls.append(("campaigns", visitor_id, account))
        self.report = report

    def visitor(self, visitor_id, account, callback):
        self.calls.append(("visitor", visitor_id, account))
        callback({"status": 200, "results": {}})

    def redirect(self, visitor_id, account, rule):
        self.calls.append(("redirect", visitor_id, account, rule))


class Page:
    """A tag on one page, with its console, and the clock the calls are made at."""

    def __init__(self, session_storage=None, personalization=None, account="acme", debug=False):
        ids = itertools.count(1)
        self.console = Console()
        self.debug_lines = []
        self.courier = Courier()
        self.outbox = Outbox(MemoryStorage(), "tab")
        self.now = T0
        self.tag = Tag(
            config=TagConfig(collect_url="https://c.example/collect", api_url="https://c.example/", account=account),
            ledger=SessionLedger(session_storage if session_storage is not None else MemoryStorage(), lambda: f"session-{next(ids)}"),
            visitor_id="visitor-1",
            outbox=self.outbox,
            courier=self.courier,
            console=self.console,
            new_id=lambda: f"id-{next(ids)}",
            personalization=personalization,
            clock=lambda: self.now,
            debug=self.debug_lines.append if debug else None,
        )

    def rtp(self, *args, url=PAGE, call_id=None):
        self.now += 1
        self.tag.call(args, CallContext(url=url, referrer="https://search.example/", ts=self.now, call_id=call_id))

    def events(self):
        batch = self.outbox.take(self.now + 3600)
        return json.loads(batch.body) if batch else []

    def values_sent(self):
        return [event["values"] for event in self.events()]


def test_the_references_first_example_queues_a_complete_valid_event():
    page = Page()
    custom_data = {"value": "MyEvent"}
    page.rtp("send", "event", custom_data)
    [event] = page.events()
    assert check_event(event) == event
    assert event["type"] == "event"
    assert event["values"] == ["MyEvent"]
    assert event["visitor_id"] == "visitor-1"
    assert event["account"] == "acme"
    assert event["url"] == PAGE
    assert event["referrer"] == "https://search.example/"
    assert event["ts"] == int(page.now * 1000)
    assert event["session_id"] and event["event_id"]
    assert page.console.errors == []
    assert page.courier.flushes == 1


def test_the_references_array_and_button_examples():
    page = Page()
    page.rtp("send", "event", {"value": ["MyEvent", "download - example whitepaper"]})
    page.rtp("send", "event", {"value": "download - example whitepaper"})
    assert page.values_sent() == [["MyEvent", "download - example whitepaper"]]
    assert page.console.errors == []


def test_a_bare_string_or_array_is_shorthand():
    page = Page()
    page.rtp("send", "event", "MyEvent")
    page.rtp("send", "event", ["A", "B"])
    assert page.values_sent() == [["MyEvent"], ["A", "B"]]


def test_each_send_has_its_own_event_id():
    page = Page()
    page.rtp("send", "event", "A")
    page.rtp("send", "event", "B")
    page.rtp("send", "view")
    ids = [event["event_id"] for event in page.events()]
    assert len(set(ids)) == 3


def test_a_replayed_early_call_keeps_the_id_the_loader_gave_it():
    page = Page()
    page.rtp("send", "event", "MyEvent", call_id="loader-call-7")
    assert page.events()[0]["event_id"] == "loader-call-7"


def test_a_value_already_sent_in_the_session_is_not_sent_again():
    page = Page()
    page.rtp("send", "event", {"value": "MyEvent"})
    page.rtp("send", "event", {"value": "MyEvent"})
    page.rtp("send", "event", {"value": ["MyEvent", "Other"]})
    assert page.values_sent() == [["MyEvent"], ["Other"]]
    assert page.console.errors == []


def test_a_reload_in_the_same_tab_does_not_resend_a_value():
    session_storage = MemoryStorage()
    first = Page(session_storage)
    first.rtp("send", "event", "MyEvent")
    reloaded = Page(session_storage)
    reloaded.rtp("send", "event", ["MyEvent", "Next"])
    assert reloaded.values_sent() == [["Next"]]
    assert reloaded.events()[0]["session_id"] == first.events()[0]["session_id"]


def test_five_values_are_refused_with_advice_and_nothing_is_sent_or_counted():
    page = Page()
    page.rtp("send", "event", {"value": ["a", "b", "c", "d", "e"]})
    assert page.events() == []
    [error] = page.console.errors
    assert error.startswith("rtp: customData.value holds 5 strings; at most 4")
    assert "call rtp('send', 'event', ...) again for the rest" in error
    page.rtp("send", "event", {"value": ["a", "b", "c", "d"]})
    assert page.values_sent() == [["a", "b", "c", "d"]]


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "rtp('send', 'event', customData) needs customData"),
        ((None,), "customData must be an object, not null"),
        ((42,), "customData must be an object, not a number"),
        (({"value": {"a": 1}},), "customData.value must be a string or an array of strings, not an object"),
        (({"value": ["ok", 3]},), "customData.value[1] must be a string, not a number"),
        (({"value": ""},), "customData.value is an empty string"),
        (({"name": "x"},), "customData has no 'value' key (it has name)"),
        (({"value": "x" * 257},), "at most 256 are allowed"),
    ],
)
def test_bad_custom_data_is_refused_with_one_clear_error_and_nothing_sent(args, message):
    page = Page()
    page.rtp("send", "event", *args)
    assert page.events() == []
    [error] = page.console.errors
    assert error.startswith("rtp: ")
    assert message in error


def test_a_view_is_sent_for_the_current_page_in_the_session():
    page = Page()
    page.rtp("send", "event", "A")
    page.rtp("send", "view")
    event, view = page.events()
    assert view["type"] == "view"
    assert view["values"] == []
    assert view["url"] == PAGE
    assert view["session_id"] == event["session_id"]
    assert check_event(view) == view


def test_views_are_not_deduplicated():
    page = Page()
    page.rtp("send", "view")
    page.rtp("send", "view")
    assert [event["type"] for event in page.events()] == ["view", "view"]


@pytest.mark.parametrize(
    "override, expected",
    [
        ("/pricing", "https://www.site.example/pricing"),
        ("thanks.html?from=paper", "https://www.site.example/thanks.html?from=paper"),
        ("https://other.example/landing", "https://other.example/landing"),
        (None, PAGE),
    ],
)
def test_a_view_page_argument_overrides_the_url(override, expected):
    page = Page()
    page.rtp("send", "view", override)
    assert page.events()[0]["url"] == expected
    assert page.console.errors == []


@pytest.mark.parametrize("bad", [5, "", "   ", "javascript:alert(1)", "/" + "p" * 3000])
def test_a_bad_view_page_is_refused(bad):
    page = Page()
    page.rtp("send", "view", bad)
    assert page.events() == []
    [error] = page.console.errors
    assert error.startswith("rtp: rtp('send', 'view', page)")


def test_set_account_applies_to_later_sends():
    page = Page()
    page.rtp("send", "event", "before")
    page.rtp("setAccount", "  other-account ")
    page.rtp("send", "event", "after")
    assert [event["account"] for event in page.events()] == ["acme", "other-account"]
    assert page.console.errors == []


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "id must be a string, not null"),
        ((7,), "id must be a string, not a number"),
        (("  ",), "id is an empty string: give the account id"),
        (("a" * (MAX_ACCOUNT_LENGTH + 1),), f"longer than {MAX_ACCOUNT_LENGTH} characters"),
    ],
)
def test_a_bad_account_is_refused_and_the_old_one_kept(args, message):
    page = Page()
    page.rtp("setAccount", *args)
    assert message in page.console.errors[0]
    page.rtp("send", "view")
    assert page.events()[0]["account"] == "acme"


@pytest.mark.parametrize(
    "args, message",
    [
        (("track", "event", "x"), "rtp: unknown command rtp('track', 'event', ...): known commands are 'send', 'event'; "),
        (("send", "click"), "rtp: unknown command rtp('send', 'click', ...)"),
        (("send",), "rtp: unknown command rtp('send', ...)"),
        ((), "rtp: rtp() needs a command"),
        ((42, "x"), "rtp: the command must be a string, not a number"),
        (("send", None), "rtp: unknown command rtp('send', null, ...)"),
    ],
)
def test_unknown_or_missing_commands_are_refused_with_the_known_ones(args, message):
    page = Page()
    page.rtp(*args)
    [error] = page.console.errors
    assert error.startswith(message)
    if "unknown command" in message:
        assert "'setAccount'" in error
    assert page.events() == []


def test_calls_queued_before_the_runtime_was_ready_are_sent_in_order_with_one_flush():
    page = Page()
    calls = [
        (("send", "view"), CallContext(url=PAGE, referrer="", ts=T0 + 1, call_id="q1")),
        (("send", "event", "Early"), CallContext(url=PAGE, referrer="", ts=T0 + 2, call_id="q2")),
        (("bogus",), CallContext(url=PAGE, referrer="", ts=T0 + 3)),
        (("send", "event", "Later"), CallContext(url=PAGE + "#2", referrer="", ts=T0 + 4, call_id="q4")),
    ]
    page.tag.call_many(calls)
    events = page.events()
    assert [event["event_id"] for event in events] == ["q1", "q2", "q4"]
    assert [event["ts"] for event in events] == [int((T0 + n) * 1000) for n in (1, 2, 4)]
    assert events[2]["url"] == PAGE + "#2"
    assert len(page.console.errors) == 1
    assert page.courier.flushes == 1


def test_an_internal_error_is_reported_and_never_raised_into_the_page():
    page = Page()

    def broken_add(event, now):
        raise RuntimeError("disk on fire")

    page.outbox.add = broken_add
    page.rtp("send", "event", {"value": "MyEvent"})
    [error] = page.console.errors
    assert error.startswith("rtp: internal error while handling rtp('send', 'event', an object)")
    assert "disk on fire" in error


def test_a_failing_delivery_is_reported_and_never_raised_into_the_page():
    page = Page()

    def broken_flush():
        raise RuntimeError("no network stack")

    page.courier.flush = broken_flush
    page.rtp("send", "event", "MyEvent")
    assert page.console.errors == ["rtp: internal error while sending: RuntimeError('no network stack')"]
    assert page.values_sent() == [["MyEvent"]]


def test_the_tag_keeps_working_after_an_internal_error():
    page = Page()
    original_add = page.outbox.add
    page.outbox.add = lambda event, now: 1 / 0
    page.rtp("send", "view")
    page.outbox.add = original_add
    page.rtp("send", "event", "MyEvent")
    assert page.values_sent() == [["MyEvent"]]


def test_strange_arguments_never_raise():
    class Weird:
        def __repr__(self):
            raise RuntimeError("no repr")

        def __eq__(self, other):
            raise RuntimeError("no eq")

        __hash__ = object.__hash__

    page = Page()
    for args in [(Weird(),), ("send", Weird()), ("send", "event", Weird()), ("send", "view", Weird()),
                 ("setAccount", Weird()), ("get", "visitor", Weird())]:
        page.rtp(*args)
    assert len(page.console.errors) == 6
    assert all(error.startswith("rtp: ") for error in page.console.errors)
    assert page.events() == []


def test_get_commands_reach_personalization_with_the_visitor_and_account():
    personalization = Personalization()
    page = Page(personalization=personalization)
    answers = []
    page.rtp("setAccount", "acct-2")
    page.rtp("get", "campaign", True)
    page.rtp("get", "visitor", answers.append)
    assert personalization.calls == [("campaigns", "visitor-1", "acct-2"), ("visitor", "visitor-1", "acct-2")]
    assert answers == [{"status": 200, "results": {}}]
    assert page.console.errors == []


def test_get_visitor_needs_a_function():
    page = Page(personalization=Personalization())
    page.rtp("get", "visitor", "not a function")
    assert page.console.errors == [
        "rtp: rtp('get', 'visitor', callback): callback must be a function, not a string"
    ]


def test_get_commands_without_personalization_say_so():
    page = Page()
    page.rtp("get", "campaign", True)
    assert page.console.errors == ["rtp: personalization is not available on this page"]


def test_a_campaign_exposure_is_queued_as_a_valid_event_of_the_page_that_showed_it():
    personalization = Personalization()
    page = Page(personalization=personalization)
    page.rtp("send", "view")
    page.rtp("get", "campaign", True)
    flushes = page.courier.flushes
    personalization.report("impression", "Whitepaper follow-up", page.now + 0.5)
    personalization.report("click", "Whitepaper follow-up", page.now + 2)
    view, impression, click = page.events()
    for event in (impression, click):
        assert check_event(event) == event
        assert event["props"] == {"campaign": "Whitepaper follow-up"}
        assert event["values"] == [] and event["url"] == PAGE
        assert event["session_id"] == view["session_id"]
    assert (impression["type"], click["type"]) == ("impression", "click")
    assert impression["ts"] == int((page.now + 0.5) * 1000)
    assert impression["event_id"] != click["event_id"]
    assert page.courier.flushes == flushes + 2  # each is sent at once: a click may navigate away


def test_a_replayed_old_call_leaves_a_live_lease_so_another_tab_does_not_take_its_events():
    """Bug 2 of issue 12: the outbox lease is written from the current time, not from the
    call's timestamp, or a replayed call's lease is born expired."""
    storage = MemoryStorage()
    page = Page()
    page.outbox = page.tag.outbox = Outbox(storage, "live-tab")
    page.now = T0 + 3600
    page.tag.call(("send", "event", "Old"), CallContext(url=PAGE, referrer="", ts=T0, call_id="early-1"))
    other_tab = Outbox(storage, "other-tab")
    assert other_tab.take(page.now + LEASE_SECONDS - 1) is None
    assert json.loads(page.outbox.take(page.now).body)[0]["event_id"] == "early-1"


def test_custom_vars_ride_with_the_next_view_only():
    page = Page()
    page.rtp("set", "customVar1", "gold")
    page.rtp("set", "customVar5", "x" * 100)
    page.rtp("set", "customVar1", "platinum")
    page.rtp("send", "event", "A")
    page.rtp("send", "view")
    page.rtp("send", "view")
    event, first_view, second_view = page.events()
    assert "props" not in event
    assert first_view["props"] == {"customVar1": "platinum", "customVar5": "x" * 100}
    assert check_event(first_view) == first_view
    assert "props" not in second_view
    assert page.console.errors == []


@pytest.mark.parametrize(
    "args, message",
    [
        (("set", "customVar2", 7), "rtp: rtp('set', 'customVar2', value): value must be a string, not a number"),
        (("set", "customVar3"), "rtp: rtp('set', 'customVar3', value): value must be a string, not null"),
        (("set", "customVar4", "x" * 101), "value is 101 characters long; at most 100 are allowed"),
        (("set", "customVar6", "x"), "rtp: unknown command rtp('set', 'customVar6', ...)"),
    ],
)
def test_a_bad_custom_var_is_refused_and_not_sent(args, message):
    page = Page()
    page.rtp(*args)
    page.rtp("send", "view")
    assert message in page.console.errors[0]
    assert "props" not in page.events()[0]


def test_a_redirect_is_read_at_once_and_decided_by_personalization():
    personalization = Personalization()
    page = Page(personalization=personalization)
    page.rtp("send", "redirect", "matchedSegments.name", "Whitepaper downloaders", "/webinar.html")
    [(kind, visitor, account, rule)] = personalization.calls
    assert (kind, visitor, account) == ("redirect", "visitor-1", "acme")
    assert rule.targets == (("https://www.site.example/webinar.html", ("Whitepaper downloaders",)),)
    page.rtp("send", "redirect", "matchedSegments.id", "wp", "javascript:alert(1)")
    assert len(personalization.calls) == 1
    assert "is not an http(s) URL" in page.console.errors[0]
    assert page.events() == []


@pytest.mark.parametrize(
    "args, message",
    [
        (("get", "rcmd", "richmedia"), "rtp: content recommendations (rtp('get', 'rcmd', ...)) are not supported"),
        (("set", "rcmd", "richmedia", {}), "rtp: content recommendations (rtp('set', 'rcmd', ...)) are not supported"),
        (("userContextReady", lambda: None), "rtp: user context callbacks (rtp('userContextReady', fn)) are not"),
    ],
)
def test_documented_commands_rtp_tag_does_not_offer_get_one_clear_error(args, message):
    page = Page()
    page.rtp(*args)
    [error] = page.console.errors
    assert error.startswith(message)


def test_check_pattern_answers_from_the_core_and_refuses_non_strings_with_an_error():
    page = Page()
    assert page.tag.check_pattern("https://site.example/a.html", "%.HTML") is True
    assert page.console.errors == []
    assert page.tag.check_pattern(None, "%") is False
    assert page.console.errors == [
        "rtp: rtp.checkPattern(str, pattern) compares two strings, not null and a string; answered false"
    ]


def test_the_debug_view_says_what_became_of_each_call():
    page = Page(debug=True)
    page.rtp("send", "event", "A")
    page.rtp("send", "event", ["A", "B"])
    page.rtp("send", "event", "A")
    page.rtp("send", "event", {"value": 5})
    page.tag.check_pattern("abc", "a%")
    assert page.debug_lines == [
        "rtp debug: rtp('send', 'event', 'A'): accepted",
        "rtp debug: rtp('send', 'event', an array): accepted 'B'; counted before in this session, not sent again: 'A'",
        "rtp debug: rtp('send', 'event', 'A'): counted before in this session, not sent again: 'A'",
        "rtp debug: rtp('send', 'event', an object): refused: customData.value must be a string or an array "
        "of strings, not a number",
        "rtp debug: rtp.checkPattern('abc', 'a%'): true",
    ]

