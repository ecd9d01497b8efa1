import pytest

from rtp_tag.redirect import REFERENCE_ONLY_FIELDS, RedirectError, parse_redirect, redirect_target, same_page

PAGE = "https://www.site.example/landing.html?from=ad#top"
IN_WP = {"status": 200, "results": {"matchedSegments": [{"id": "wp", "name": "Whitepaper Downloaders"}]}}
IN_NONE = {"status": 200, "results": {}}


def target(args, answer, page=PAGE):
    return redirect_target(parse_redirect(args, page), answer, page)


def test_a_visitor_in_a_named_segment_is_sent_to_the_url_ignoring_case():
    assert target(("matchedSegments.name", "whitepaper downloaders", "/webinar.html"), IN_WP) == (
        "https://www.site.example/webinar.html"
    )
    assert target(("matchedSegments.id", ["other", "WP"], "https://b.example/x"), IN_WP) == "https://b.example/x"


def test_a_visitor_outside_the_segment_stays():
    assert target(("matchedSegments.name", "Whitepaper Downloaders", "/webinar.html"), IN_NONE) is None
    assert target(("matchedSegments.id", "other", "/webinar.html"), IN_WP) is None


def test_redirect_matched_false_sends_the_visitors_who_do_not_match():
    args = ("matchedSegments.id", "wp", "/signup.html", False)
    assert target(args, IN_NONE) == "https://www.site.example/signup.html"
    assert target(args, IN_WP) is None


def test_the_url_map_form_sends_to_the_first_url_whose_values_match():
    args = ("matchedSegments.id", {"/a.html": ["x"], "/b.html": ["y", "wp"], "/c.html": ["wp"]})
    assert target(args, IN_WP) == "https://www.site.example/b.html"
    assert target(args, IN_NONE) is None


def test_an_unknown_context_redirects_no_one_not_even_with_redirect_matched_false():
    args = ("matchedSegments.id", "wp", "/signup.html", False)
    assert target(args, {"status": 0, "error": "the collector could not be reached"}) is None


@pytest.mark.parametrize("url", ["", "landing.html?from=ad", "https://WWW.site.example/landing.html?from=ad#other"])
def test_never_to_the_page_the_visitor_is_on(url):
    assert target(("matchedSegments.id", "wp", url or PAGE), IN_WP) is None


def test_same_page_ignores_only_the_fragment():
    assert same_page("https://a.example/p#x", "https://a.example/p")
    assert not same_page("https://a.example/p?q=1", "https://a.example/p")


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "the field is missing"),
        (("matchedSegments.nme", "wp", "/x"), "field 'matchedSegments.nme' is not one of matchedSegments.name, matchedSegments.id"),
        ((7, "wp", "/x"), "field a number is not one of"),
        (("matchedSegments.id", "wp"), "give the values and the url"),
        (("matchedSegments.id", [], "/x"), "values must be a string or a non-empty array of strings, not an array"),
        (("matchedSegments.id", ["wp", 3], "/x"), "values must be a string or a non-empty array of strings"),
        (("matchedSegments.id", "wp", "javascript:alert(1)"), "'javascript:alert(1)' is not an http(s) URL"),
        (("matchedSegments.id", "wp", " java\tscript:alert(1)"), "is not an http(s) URL"),
        (("matchedSegments.id", "wp", "data:text/html,x"), "is not an http(s) URL"),
        (("matchedSegments.id", "wp", None), "the url must be a page URL or path, not null"),
        (("matchedSegments.id", "wp", "/x", "yes"), "redirectMatched must be true or false, not a string"),
        (("matchedSegments.id", {}), "the {url: [values]} object is empty"),
        (("matchedSegments.id", {"mailto:a@b.example": ["wp"]}), "is not an http(s) URL"),
    ],
)
def test_bad_redirect_calls_are_refused_saying_what_to_fix(args, message):
    with pytest.raises(RedirectError) as refused:
        parse_redirect(args, PAGE)
    assert message in str(refused.value)


@pytest.mark.parametrize("field", REFERENCE_ONLY_FIELDS)
def test_the_references_firmographic_fields_are_refused_by_name(field):
    with pytest.raises(RedirectError, match="rtp-tag has no firmographic data"):
        parse_redirect((field, "x", "/y"), PAGE)
