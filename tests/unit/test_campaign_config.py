"""The campaigns file: what it accepts, and errors that name the file, the line and the problem."""

import os
import tempfile
from pathlib import Path

import pytest

from rtp_tag.collector.campaigns import (
    Campaign,
    CampaignConfigError,
    CampaignFile,
    Segment,
    Visits,
    load_config,
    parse_config,
)

ISSUE_EXAMPLE = """\
[[segments]]
id = "wp"
name = "Whitepaper downloaders"
custom_data = "download - example whitepaper"   # the visitor sent this value
# custom_data_contains = "whitepaper"            # or: a value containing this

[[campaigns]]
name = "Whitepaper follow-up"
segment = "wp"
zone = "hero"            # In Zone: replaces the content of the element with id="hero"
text = "Thanks for reading the whitepaper: join the live demo"
link = "/demo/webinar.html"   # optional: the text becomes a link
# after_views = 2          # optional: show from the Nth page view after entering the segment
"""


def error_of(text):
    with pytest.raises(CampaignConfigError) as caught:
        parse_config(text, "site/campaigns.toml")
    return str(caught.value)


def test_the_issue_example_is_read_as_written():
    config = parse_config(ISSUE_EXAMPLE, "campaigns.toml")
    assert config.segments == (
        Segment(id="wp", name="Whitepaper downloaders", custom_data="download - example whitepaper"),
    )
    assert config.campaigns == (
        Campaign(
            name="Whitepaper follow-up",
            segment="wp",
            zone="hero",
            text="Thanks for reading the whitepaper: join the live demo",
            link="/demo/webinar.html",
            after_views=0,
        ),
    )


def test_an_empty_file_means_no_segments_and_no_campaigns():
    config = parse_config("", "campaigns.toml")
    assert config.segments == () and config.campaigns == ()


def test_a_syntax_error_names_the_file_and_tomls_line():
    message = error_of('[[segments]]\nid = "wp"\nname = "Whitepaper\n')
    assert message.startswith("site/campaigns.toml: not valid TOML")
    assert "line 3" in message


def test_an_unknown_segment_id_names_the_line_and_the_known_ids():
    message = error_of(ISSUE_EXAMPLE.replace('segment = "wp"', 'segment = "whitepaper"'))
    assert message.startswith("site/campaigns.toml: line 9, [[campaigns]] #1: ")
    assert "unknown segment id 'whitepaper'" in message
    assert "wp" in message.split("defined segment ids:")[1]


def test_a_missing_field_names_the_entrys_header_line():
    message = error_of(ISSUE_EXAMPLE.replace('zone = "hero"', ""))
    assert message.startswith("site/campaigns.toml: line 7, [[campaigns]] #1: ")
    assert "missing zone" in message


def test_an_unknown_key_is_refused_with_the_known_keys():
    message = error_of(ISSUE_EXAMPLE.replace("custom_data =", "customdata ="))
    assert message.startswith("site/campaigns.toml: line 4, [[segments]] #1: ")
    assert "unknown key 'customdata'" in message and "custom_data_contains" in message


def test_an_unknown_top_level_key_is_refused():
    message = error_of('title = "x"\n' + ISSUE_EXAMPLE)
    assert message.startswith("site/campaigns.toml: line 1: unknown top-level key 'title'")


def test_a_wrong_type_names_the_key_and_its_line():
    message = error_of(ISSUE_EXAMPLE.replace('zone = "hero"', "zone = 7"))
    assert message.startswith("site/campaigns.toml: line 10, [[campaigns]] #1: ")
    assert "zone must be a non-empty string, not 7" in message


def test_after_views_must_be_a_whole_number_from_0_to_9():
    for after_views in ("-1", "10", '"2"', "true", "1.5"):
        message = error_of(ISSUE_EXAMPLE.replace("# after_views = 2", f"after_views = {after_views}"))
        assert message.startswith("site/campaigns.toml: line 13, [[campaigns]] #1: after_views must be")


def test_after_views_from_0_to_9_are_accepted():
    for views in range(10):
        config = parse_config(ISSUE_EXAMPLE.replace("# after_views = 2", f"after_views = {views}"), "c.toml")
        assert config.campaigns[0].after_views == views


def test_a_segment_needs_at_least_one_rule():
    message = error_of(ISSUE_EXAMPLE.replace('custom_data = "download - example whitepaper"', ""))
    assert message.startswith("site/campaigns.toml: line 1, [[segments]] #1: has no rule: give at least one of")
    assert "custom_data" in message and "pages_include" in message and "custom_var5" in message


def test_exact_and_contains_rules_can_be_combined():
    both = ISSUE_EXAMPLE.replace('# custom_data_contains = "whitepaper"', 'custom_data_contains = "white"')
    segment = parse_config(both, "c.toml").segments[0]
    assert (segment.custom_data, segment.custom_data_contains, segment.match) == (
        "download - example whitepaper", "white", "all",
    )


def test_segment_ids_must_be_unique():
    second = '\n[[segments]]\nid = "wp"\nname = "Other"\ncustom_data_contains = "paper"\n'
    message = error_of(ISSUE_EXAMPLE + second)
    assert message.startswith("site/campaigns.toml: line 16, [[segments]] #2: ")
    assert "already used by [[segments]] #1" in message


def test_a_link_that_is_not_http_or_a_path_is_refused():
    for link in ("javascript:alert(1)", " JavaScript:alert(1)", "java\\tscript:alert(1)", "data:text/html,x"):
        message = error_of(ISSUE_EXAMPLE.replace('"/demo/webinar.html"', f'"{link}"'))
        assert message.startswith("site/campaigns.toml: line 12, [[campaigns]] #1: link "), link
        assert "is not an http(s) URL" in message


def test_segments_written_as_a_table_instead_of_an_array_are_refused():
    message = error_of('[segments]\nid = "wp"\n')
    assert message.startswith("site/campaigns.toml: line 1: 'segments' must be an array of tables")


def test_an_inline_entry_is_named_by_its_index():
    message = error_of('segments = [{id = "wp", name = "W"}]\n')
    assert message.startswith("site/campaigns.toml: [[segments]] #1: has no rule")


def test_a_missing_file_is_named():
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "nope.toml"
        with pytest.raises(CampaignConfigError) as caught:
            load_config(path)
    assert str(caught.value).startswith(f"{path}: cannot be read")


def test_the_file_is_reread_when_it_changes_and_a_broken_edit_keeps_the_last_good_one():
    with tempfile.TemporaryDirectory() as folder:
        _check_reloading(Path(folder) / "campaigns.toml")


def _check_reloading(path):
    path.write_text(ISSUE_EXAMPLE)
    reports = []
    source = CampaignFile(path, reports.append)
    assert source.current().campaigns[0].text.startswith("Thanks")
    path.write_text(ISSUE_EXAMPLE.replace("Thanks for reading", "Welcome back"))
    _touch_later(path)
    assert source.current().campaigns[0].text.startswith("Welcome back")
    path.write_text(ISSUE_EXAMPLE.replace('segment = "wp"', 'segment = "nope"'))
    _touch_later(path)
    assert source.current().campaigns[0].text.startswith("Welcome back")
    assert "unknown segment id 'nope'" in reports[-1] and "keeping the previous" in reports[-1]


def test_a_malformed_file_is_refused_at_start():
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "campaigns.toml"
        path.write_text("[[campaigns]]\nname = 1\n")
        with pytest.raises(CampaignConfigError) as caught:
            CampaignFile(path, print)
    assert str(caught.value) == f"{path}: line 1, [[campaigns]] #1: missing segment, zone, text"


def _touch_later(path):
    """Move the modification time on, as a later edit would (file systems with
    coarse timestamps could otherwise hide a quick second write)."""
    status = path.stat()
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + 2_000_000_000))


EVERY_RULE = """\
[[segments]]
id = "all"
name = "Every rule"
match = "Any"
custom_data_contains = "paper"
pages_include = "/pricing*; www.example.com/plans/*;"
pages_exclude = "/checkout*"
referrer_contains = "News.example"
search_terms = "CRM; marketing automation"
visits = ">= 3"
device = "Mobile; tablet"
custom_var2 = "Gold"
"""


def test_every_rule_kind_is_read():
    segment = parse_config(EVERY_RULE, "c.toml").segments[0]
    assert segment == Segment(
        id="all",
        name="Every rule",
        match="any",
        custom_data_contains="paper",
        pages_include=("/pricing*", "www.example.com/plans/*"),
        pages_exclude=("/checkout*",),
        referrer_contains=("news.example",),
        search_terms=("crm", "marketing automation"),
        visits=Visits(">=", 3),
        device=("mobile", "tablet"),
        custom_vars=(("customVar2", "Gold"),),
    )


def test_visits_take_each_operator():
    for text, expected in (('"= 1"', Visits("=", 1)), ('">=2"', Visits(">=", 2)), ('"<= 10"', Visits("<=", 10))):
        segment = parse_config(EVERY_RULE.replace('">= 3"', text), "c.toml").segments[0]
        assert segment.visits == expected


@pytest.mark.parametrize(
    "line, key, problem",
    [
        ('match = "some"', "match", 'must be "all" (every rule holds) or "any"'),
        ('visits = "> 3"', "visits", 'must be "= N", ">= N" or "<= N"'),
        ('visits = "= 0"', "visits", "from 1, not '= 0'"),
        ('visits = 3', "visits", "must be a non-empty string, not 3"),
        ('device = "phone"', "device", "names 'phone'; use mobile, tablet, desktop"),
        ('pages_include = " ; "', "pages_include", "holds no page pattern"),
        ('pages_exclude = "/' + "x" * 300 + '"', "pages_exclude", "of 301 characters; at most 256"),
        ('search_terms = ";"', "search_terms", "holds no search term"),
        ('referrer_contains = ""', "referrer_contains", "must be a non-empty string"),
        ('custom_var1 = "' + "x" * 101 + '"', "custom_var1", "is 101 characters long; a custom variable has at most 100"),
        ('custom_var6 = "x"', "custom_var6", "unknown key 'custom_var6'"),
    ],
)
def test_a_bad_rule_names_the_file_the_line_and_the_field(line, key, problem):
    text = EVERY_RULE.replace('custom_var2 = "Gold"', 'custom_var2 = "Gold"\n' + line)
    if key != "custom_var6":
        text = "\n".join(row for row in text.splitlines() if not row.startswith(key + " ") or row == line) + "\n"
    message = error_of(text)
    assert message.startswith(f"site/campaigns.toml: line {text.splitlines().index(line) + 1}, [[segments]] #1: ")
    assert problem in message and key in message


def test_a_bad_rule_in_an_edit_is_reported_with_its_line_and_the_last_good_rules_stay():
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "campaigns.toml"
        path.write_text(EVERY_RULE)
        reports = []
        source = CampaignFile(path, reports.append)
        path.write_text(EVERY_RULE.replace('device = "Mobile; tablet"', 'device = "watch"'))
        _touch_later(path)
        assert source.current().segments[0].device == ("mobile", "tablet")
        assert reports[-1].startswith(f"rtp-tag: {path}: line 11, [[segments]] #1: device names 'watch'")
        assert reports[-1].endswith("keeping the previous segments and campaigns")
