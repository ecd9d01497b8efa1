import pytest

from rtp_tag.config import LoaderSettings, resolve_config
from rtp_tag.protocol import MAX_ACCOUNT_LENGTH

PAGE = "https://www.site.example/products/whitepaper.html"
SCRIPT = "https://cdn.tag.example/rtp.js"


def resolve(**settings):
    warnings = []
    settings.setdefault("script_url", SCRIPT)
    settings.setdefault("page_url", PAGE)
    return resolve_config(LoaderSettings(**settings), warnings.append), warnings


def test_without_settings_events_go_to_the_scripts_origin():
    config, warnings = resolve()
    assert config.collect_url == "https://cdn.tag.example/collect"
    assert config.api_url == "https://cdn.tag.example/"
    assert config.account == ""
    assert warnings == []


def test_a_relative_script_url_is_resolved_against_the_page():
    config, _ = resolve(script_url="/static/rtp.js")
    assert config.collect_url == "https://www.site.example/collect"


def test_the_pod_url_of_the_current_snippet_beats_the_script_origin():
    config, _ = resolve(pod="https://pod.rtp.example/api")
    assert config.collect_url == "https://pod.rtp.example/api/collect"
    assert config.api_url == "https://pod.rtp.example/api/"


def test_data_endpoint_beats_the_pod_url():
    config, warnings = resolve(pod="https://pod.rtp.example/", endpoint_attribute="https://mine.example/rtp/")
    assert config.collect_url == "https://mine.example/rtp/collect"
    assert warnings == []


@pytest.mark.parametrize(
    "page_url, expected",
    [
        ("https://www.site.example/", "https://pod.rtp.example/rtp-api/collect"),
        ("http://www.site.example/", "http://pod.rtp.example/rtp-api/collect"),
    ],
)
def test_a_protocol_relative_pod_url_takes_the_pages_scheme(page_url, expected):
    config, _ = resolve(page_url=page_url, pod="//pod.rtp.example/rtp-api/")
    assert config.collect_url == expected


def test_the_older_snippets_protocol_relative_script_url_with_aid():
    config, _ = resolve(script_url="//host.rtp.example/rtp-api/v1/rtp.js?aid=ACME123&rh=www.site.example")
    assert config.collect_url == "https://host.rtp.example/collect"
    assert config.account == "ACME123"


def test_a_pod_url_that_is_not_http_warns_and_the_script_origin_is_used():
    config, warnings = resolve(pod="javascript:alert(1)")
    assert config.collect_url == "https://cdn.tag.example/collect"
    assert warnings == ["rtp.p 'javascript:alert(1)' is not an http(s) URL; sending to https://cdn.tag.example/"]


def test_a_bad_data_endpoint_warns_and_the_pod_url_is_used():
    config, warnings = resolve(endpoint_attribute="ftp://files.example/", pod="https://pod.rtp.example/")
    assert config.collect_url == "https://pod.rtp.example/collect"
    assert len(warnings) == 1
    assert "data-endpoint 'ftp://files.example/' is not an http(s) URL" in warnings[0]
    assert warnings[0].endswith("sending to https://pod.rtp.example/")


def test_a_blank_pod_url_is_ignored():
    config, warnings = resolve(pod="   ")
    assert config.collect_url == "https://cdn.tag.example/collect"
    assert warnings == []


def test_the_account_comes_from_rtp_a():
    config, _ = resolve(account="ACME123")
    assert config.account == "ACME123"


def test_data_account_beats_rtp_a_which_beats_aid():
    with_aid = SCRIPT + "?aid=FROM_AID"
    assert resolve(script_url=with_aid)[0].account == "FROM_AID"
    assert resolve(script_url=with_aid, account="FROM_RTP_A")[0].account == "FROM_RTP_A"
    assert resolve(script_url=with_aid, account="FROM_RTP_A", account_attribute="FROM_ATTR")[0].account == "FROM_ATTR"


def test_a_blank_account_falls_through_to_the_next_source():
    config, _ = resolve(script_url=SCRIPT + "?aid=FROM_AID", account="  ", account_attribute="")
    assert config.account == "FROM_AID"


def test_the_account_is_trimmed_and_capped():
    config, _ = resolve(account="  " + "a" * (MAX_ACCOUNT_LENGTH + 10) + "  ")
    assert config.account == "a" * MAX_ACCOUNT_LENGTH


def test_the_session_timeout_defaults_to_30_minutes_and_is_set_in_minutes():
    assert resolve()[0].session_timeout == 30 * 60
    assert resolve(session_timeout_attribute="45")[0].session_timeout == 45 * 60
    assert resolve(session_timeout_attribute="0.5")[0].session_timeout == 30


@pytest.mark.parametrize("bad", ["abc", "0", "-5", "nan", "inf"])
def test_a_bad_session_timeout_warns_and_uses_30_minutes(bad):
    config, warnings = resolve(session_timeout_attribute=bad)
    assert config.session_timeout == 30 * 60
    assert warnings == [f"data-session-timeout {bad!r} is not a positive number of minutes; using 30"]
