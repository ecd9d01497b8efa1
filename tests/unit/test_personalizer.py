"""The tag's side of personalization: Marketo's answer shapes, what is rendered, and when it asks."""

from urllib.parse import parse_qs, urlsplit

from rtp_tag.personalization import DELIVERY_WAIT, Personalizer, is_safe_link

API = "https://collector.example/"


class FakePage:
    def __init__(self, answers, zones=("hero",), url="https://site.example/page"):
        self.answers = answers  # route -> (status, data)
        self.zones = {zone: "default" for zone in zones}
        self.filled = set()
        self.asked = []
        self.asked_at_undelivered = []
        self.undelivered = 0
        self.follow = {}  # zone -> what clicking its campaign link does
        self.answered = []  # what campaigns_answered was told, each time
        self.watchers = []
        self.url = url
        self.redirects = []

    def unfilled_zones(self, zone_ids):
        return [zone for zone in zone_ids if zone in self.zones and zone not in self.filled]

    def watch_for_zones(self, added):
        self.watchers.append(added)

    def render_zone(self, zone_id):
        """A single-page app renders a zone (again): default content, then the observers run."""
        self.zones[zone_id] = "default"
        self.filled.discard(zone_id)
        for added in self.watchers:
            added()

    def campaigns_answered(self, shown):
        self.answered.append(shown)

    def location(self):
        return self.url

    def redirect(self, url):
        self.redirects.append(url)

    async def get_json(self, url):
        self.asked.append(url)
        self.asked_at_undelivered.append(self.undelivered)
        answer = self.answers[urlsplit(url).path.lstrip("/")]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def show_in_zone(self, zone_id, text, link, on_follow):
        if zone_id not in self.zones:
            return False
        self.zones[zone_id] = (text, link) if link else text
        self.follow[zone_id] = on_follow
        self.filled.add(zone_id)
        return True

    def has_zone(self, zone_id):
        return zone_id in self.zones


class FakeConsole:
    def __init__(self):
        self.messages = []

    def error(self, message):
        self.messages.append(("error", message))

    def warn(self, message):
        self.messages.append(("warn", message))


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    async def sleep(self, seconds):
        self.now += seconds


def drive(coroutine):
    """Run a coroutine whose awaits all complete at once (no event loop needed)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    raise AssertionError("the coroutine waited for something the test never provides")


def personalizer(page, console=None, clock=None, undelivered=None):
    clock = clock or FakeClock()
    return Personalizer(
        API,
        page,
        console or FakeConsole(),
        undelivered=undelivered or (lambda: page.undelivered),
        clock=clock,
        sleep=clock.sleep,
        spawn=drive,
    )


def test_visitor_answer_lists_matched_segments_in_marketos_shape():
    page = FakePage({"api/visitor": (200, {"matchedSegments": [{"id": "wp", "name": "Whitepaper downloaders"}]})})
    answers = []
    personalizer(page).visitor("v1", "acme", answers.append)
    assert answers == [{"status": 200, "results": {"matchedSegments": [{"id": "wp", "name": "Whitepaper downloaders"}]}}]
    assert parse_qs(urlsplit(page.asked[0]).query) == {"visitor_id": ["v1"], "account": ["acme"]}
    assert page.asked[0].startswith(API + "api/visitor?")


def test_visitor_answer_has_no_matched_segments_key_when_none_matched():
    page = FakePage({"api/visitor": (200, {"matchedSegments": []})})
    assert drive(personalizer(page).visitor_answer("v1", "")) == {"status": 200, "results": {}}


def test_a_failed_visitor_answer_carries_the_status_and_an_error():
    page = FakePage({"api/visitor": (503, {"error": "the event store is busy"})})
    answer = drive(personalizer(page).visitor_answer("v1", ""))
    assert answer == {"status": 503, "error": "the collector answered HTTP 503: the event store is busy"}


def test_an_unreachable_collector_is_status_0_not_an_exception():
    page = FakePage({"api/visitor": OSError("TypeError: NetworkError when attempting to fetch resource.")})
    answer = drive(personalizer(page).visitor_answer("v1", ""))
    assert answer["status"] == 0
    assert answer["error"].startswith("the collector could not be reached")


def test_an_answer_that_is_not_understood_is_an_error():
    page = FakePage({"api/visitor": (200, None)})
    assert drive(personalizer(page).visitor_answer("v1", ""))["status"] == 200
    assert "not understood" in drive(personalizer(page).visitor_answer("v1", ""))["error"]


def test_a_callback_that_throws_is_reported_not_raised():
    page = FakePage({"api/visitor": (200, {"matchedSegments": []})})
    console = FakeConsole()

    def broken(answer):
        raise RuntimeError("page bug")

    personalizer(page, console).visitor("v1", "", broken)
    assert console.messages and console.messages[0][1].startswith("rtp: ")


def test_campaigns_are_rendered_into_their_zones_as_text_or_link():
    page = FakePage(
        {"api/campaigns": (200, {"campaigns": [
            {"name": "A", "zone": "hero", "text": "<img src=x onerror=alert(1)>", "link": None},
            {"name": "B", "zone": "aside", "text": "Join", "link": "/demo/webinar.html"},
        ]})},
        zones=("hero", "aside"),
    )
    shown = drive(personalizer(page).render_campaigns("v1", ""))
    assert shown == ["A", "B"]
    assert page.zones == {"hero": "<img src=x onerror=alert(1)>", "aside": ("Join", "/demo/webinar.html")}


def test_the_first_campaign_for_a_zone_wins():
    page = FakePage({"api/campaigns": (200, {"campaigns": [
        {"name": "First", "zone": "hero", "text": "first"},
        {"name": "Second", "zone": "hero", "text": "second"},
    ]})})
    assert drive(personalizer(page).render_campaigns("v1", "")) == ["First"]
    assert page.zones["hero"] == "first"


def test_without_a_campaign_the_zone_keeps_its_content():
    page = FakePage({"api/campaigns": (200, {"campaigns": []})})
    personalizer(page).show_campaigns("v1", "")
    assert page.zones["hero"] == "default"


def test_a_campaign_for_a_zone_not_on_this_page_is_skipped_quietly():
    page = FakePage({"api/campaigns": (200, {"campaigns": [{"name": "A", "zone": "elsewhere", "text": "x"}]})})
    console = FakeConsole()
    assert drive(personalizer(page, console).render_campaigns("v1", "")) == []
    assert console.messages == []


def test_a_failure_to_fetch_campaigns_leaves_the_zone_and_warns():
    page = FakePage({"api/campaigns": (500, None)})
    console = FakeConsole()
    personalizer(page, console).show_campaigns("v1", "")
    assert page.zones["hero"] == "default"
    assert console.messages == [("warn", "rtp: campaigns are not shown: the collector answered HTTP 500")]


def test_an_unsafe_link_is_dropped_and_the_text_still_shown():
    page = FakePage({"api/campaigns": (200, {"campaigns": [
        {"name": "A", "zone": "hero", "text": "Hi", "link": "javascript:alert(1)"}
    ]})})
    console = FakeConsole()
    drive(personalizer(page, console).render_campaigns("v1", ""))
    assert page.zones["hero"] == "Hi"
    assert console.messages[0][0] == "error" and "is not an http(s) URL" in console.messages[0][1]


def test_safe_links_are_paths_and_http_urls():
    for link in ("/demo/webinar.html", "webinar.html", "https://example.com/x", "HTTP://example.com", "//cdn.example/x"):
        assert is_safe_link(link), link
    for link in ("javascript:alert(1)", " javascript:x", "java\tscript:x", "\x01javascript:x", "data:text/html,x", "vbscript:x"):
        assert not is_safe_link(link), link


def test_the_question_waits_for_earlier_events_to_be_delivered():
    page = FakePage({"api/visitor": (200, {"matchedSegments": []})})
    clock = FakeClock()
    page.undelivered = 2

    def undelivered():
        page.undelivered = max(0, page.undelivered - 1) if clock.now > 1000.1 else page.undelivered
        return page.undelivered

    drive(personalizer(page, clock=clock, undelivered=undelivered).visitor_answer("v1", ""))
    assert page.asked_at_undelivered == [0]


def test_the_question_is_asked_anyway_when_delivery_takes_too_long():
    page = FakePage({"api/visitor": (200, {"matchedSegments": []})})
    clock = FakeClock()
    page.undelivered = 1
    drive(personalizer(page, clock=clock).visitor_answer("v1", ""))
    assert page.asked_at_undelivered == [1]
    assert 1000.0 + DELIVERY_WAIT <= clock.now < 1000.0 + DELIVERY_WAIT + 0.1


class Reports(list):
    """What the tag queued: (kind, campaign, ts) per impression, click or control exposure."""

    def __call__(self, kind, campaign, ts):
        self.append((kind, campaign))


def test_a_shown_campaign_reports_one_impression_per_page_however_often_it_is_rendered():
    page = FakePage({"api/campaigns": (200, {"campaigns": [{"name": "A", "zone": "hero", "text": "Hi", "link": "/w"}]})})
    tag, reports = personalizer(page), Reports()
    drive(tag.render_campaigns("v1", "", reports))
    drive(tag.render_campaigns("v1", "", reports))
    assert reports == [("impression", "A")]


def test_following_the_link_reports_a_click_each_time():
    page = FakePage({"api/campaigns": (200, {"campaigns": [{"name": "A", "zone": "hero", "text": "Hi", "link": "/w"}]})})
    reports = Reports()
    drive(personalizer(page).render_campaigns("v1", "", reports))
    page.follow["hero"]()
    page.follow["hero"]()
    assert reports == [("impression", "A"), ("click", "A"), ("click", "A")]


def test_the_control_group_keeps_the_default_content_and_reports_a_control_exposure():
    page = FakePage({"api/campaigns": (200, {"campaigns": [
        {"name": "A", "zone": "hero", "text": "Hi", "group": "control"},
        {"name": "B", "zone": "hero", "text": "second choice"},
    ]})})
    reports = Reports()
    assert drive(personalizer(page).render_campaigns("v1", "", reports)) == []
    assert page.zones["hero"] == "default"  # held back: no other campaign takes the zone either
    assert reports == [("control", "A")]


def test_no_exposure_is_reported_for_a_zone_the_page_lacks():
    page = FakePage({"api/campaigns": (200, {"campaigns": [
        {"name": "A", "zone": "elsewhere", "text": "Hi"},
        {"name": "B", "zone": "nowhere", "text": "Hi", "group": "control"},
    ]})})
    reports = Reports()
    drive(personalizer(page).render_campaigns("v1", "", reports))
    assert reports == []


def test_the_page_is_told_once_campaigns_are_answered_or_failed():
    page = FakePage({"api/campaigns": (200, {"campaigns": [{"name": "A", "zone": "hero", "text": "x"}]})})
    drive(personalizer(page).render_campaigns("v1", ""))
    page.answers["api/campaigns"] = (0, {"error": "Failed to fetch"})
    drive(personalizer(page).render_campaigns("v1", ""))
    assert page.answered == [["A"], []]


def test_a_zone_rendered_after_the_answer_still_gets_its_campaign():
    page = FakePage({"api/campaigns": (200, {"campaigns": [
        {"name": "Hero offer", "zone": "hero", "text": "offer"},
        {"name": "Later route", "zone": "later", "text": "for the later route"},
    ]})})
    assert drive(personalizer(page).render_campaigns("v1", "")) == ["Hero offer"]
    [watch] = page.watchers
    page.zones["later"] = "default"
    watch()
    assert page.zones == {"hero": "offer", "later": "for the later route"}
    page.render_zone("hero")  # the app renders the route again: its default content comes back
    assert page.zones["hero"] == "offer"


def test_zones_are_watched_only_when_the_answer_has_campaigns():
    page = FakePage({"api/campaigns": (200, {"campaigns": []})})
    drive(personalizer(page).render_campaigns("v1", ""))
    assert page.watchers == []


def test_a_redirect_follows_the_visitor_answer_at_most_once_per_page():
    from rtp_tag.redirect import parse_redirect

    page = FakePage({"api/visitor": (200, {"matchedSegments": [{"id": "wp", "name": "WP"}]})})
    tag = personalizer(page)
    tag.redirect("v1", "acme", parse_redirect(("matchedSegments.id", "WP", "/a.html"), page.url))
    tag.redirect("v1", "acme", parse_redirect(("matchedSegments.id", "wp", "/b.html"), page.url))
    assert page.redirects == ["https://site.example/a.html"]
    assert len(page.asked) == 1


def test_no_redirect_to_the_page_the_visitor_is_on_now():
    from rtp_tag.redirect import parse_redirect

    page = FakePage({"api/visitor": (200, {"matchedSegments": [{"id": "wp", "name": "WP"}]})})
    rule = parse_redirect(("matchedSegments.id", "wp", "/app/offer"), page.url)
    page.url = "https://site.example/app/offer#top"  # a single-page app went there meanwhile
    personalizer(page).redirect("v1", "acme", rule)
    assert page.redirects == []


def test_the_debug_view_shows_each_request_its_answer_and_each_campaign_shown():
    page = FakePage({"api/campaigns": (200, {"campaigns": [{"name": "A", "zone": "hero", "text": "x"}]})})
    lines = []
    tag = Personalizer(API, page, FakeConsole(), clock=FakeClock(), spawn=drive, debug=lines.append)
    tag.show_campaigns("v1", "acme")
    assert lines == [
        "rtp debug: GET https://collector.example/api/campaigns?visitor_id=v1&account=acme",
        'rtp debug: GET api/campaigns answered HTTP 200: {"campaigns": [{"name": "A", "zone": "hero", "text": "x"}]}',
        "rtp debug: campaign 'A' shown in zone #hero",
    ]


def test_a_zone_rendered_after_the_answer_reports_its_impression_and_clicks():
    page = FakePage({"api/campaigns": (200, {"campaigns": [
        {"name": "Later route", "zone": "later", "text": "for the later route", "link": "/w"},
        {"name": "Held", "zone": "held", "text": "x", "group": "control"},
    ]})})
    reports = Reports()
    drive(personalizer(page).render_campaigns("v1", "", reports))
    assert reports == []
    page.render_zone("later")
    page.render_zone("held")
    page.render_zone("later")  # rendered again: still one impression per page
    page.follow["later"]()
    assert page.zones["held"] == "default"
    assert reports == [("impression", "Later route"), ("control", "Held"), ("click", "Later route")]
