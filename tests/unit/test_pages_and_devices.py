"""How rules read URLs (pages, referrers, searches) and User-Agents (device class)."""

import pytest

from rtp_tag.collector.devices import device_class
from rtp_tag.collector.pages import external_referrer, page_key, page_matches, search_query, split_list


def test_a_page_is_its_host_and_path_ignoring_case_query_and_fragment():
    assert page_key("https://WWW.Example.com/Pricing/?utm_source=x#top") == "www.example.com/pricing/"
    assert page_key("http://example.com") == "example.com/"
    assert page_key("http://127.0.0.1:8000/a") == "127.0.0.1:8000/a"
    assert page_key("/relative") is None
    assert page_key("javascript:alert(1)") is None
    assert page_key("https://[broken") is None


def test_a_referrer_counts_only_when_it_is_another_site():
    page = page_key("https://www.example.com/a")
    assert external_referrer(page, "https://news.example.org/story?id=1") == "news.example.org/story"
    assert external_referrer(page, "https://example.com/b") is None  # www. or not, the same site
    assert external_referrer(page, "https://www.example.com/b") is None
    assert external_referrer(page, "") is None
    assert external_referrer("127.0.0.1:8000/", "http://127.0.0.1:9000/x") == "127.0.0.1:9000/x"
    assert external_referrer(page, "android-app://com.google.android.gm/") is None


@pytest.mark.parametrize(
    "referrer, words",
    [
        ("https://www.google.com/search?q=Best+CRM&hl=en", "best crm"),
        ("https://www.bing.com/search?q=crm%20tools", "crm tools"),
        ("https://duckduckgo.com/?q=crm", "crm"),
        ("https://search.yahoo.com/search?p=Marketing+Automation", "marketing automation"),
        ("https://yandex.ru/search/?text=crm", "crm"),
        ("https://www.baidu.com/s?wd=crm", "crm"),
        ("https://www.ecosia.org/search?q=crm", "crm"),
        ("https://shop.example.net/find?query=red++shoes", "red shoes"),
        ("https://www.google.com/", None),
        ("https://search.yahoo.com/search?q=not-yahoos-key", None),
        ("https://blog.example.net/post?p=12", None),
    ],
)
def test_search_terms_are_read_from_common_engines_query_keys(referrer, words):
    assert search_query(referrer) == words


@pytest.mark.parametrize(
    "pattern, page, matches",
    [
        ("/pricing", "www.example.com/pricing", True),
        ("/pricing", "www.example.com/pricing/", False),
        ("/pricing*", "www.example.com/pricing/enterprise", True),
        ("/*/enterprise", "www.example.com/pricing/enterprise", True),
        ("/Pricing", "www.example.com/pricing", True),
        ("www.example.com/*", "www.example.com/a", True),
        ("https://www.example.com/a", "www.example.com/a", True),
        ("example.com/*", "www.example.com/a", False),
        ("*example.com/*", "www.example.com/a", True),
        ("/a.b", "www.example.com/axb", False),  # only * is special
        ("/a[1]", "www.example.com/a[1]", True),
    ],
)
def test_page_patterns_use_star_as_a_wildcard_against_the_path_or_host_and_path(pattern, page, matches):
    assert page_matches(pattern, page) is matches


def test_lists_are_separated_by_semicolons_ignoring_empty_parts():
    assert split_list(" /a ; /b;; ") == ("/a", "/b")


@pytest.mark.parametrize(
    "agent, device",
    [
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
         "Version/17.0 Mobile/15E148 Safari/604.1", "mobile"),
        ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/120.0 Mobile Safari/537.36", "mobile"),
        ("Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0", "mobile"),
        ("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
         "Version/17.0 Mobile/15E148 Safari/604.1", "tablet"),
        ("Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/120.0 Safari/537.36", "tablet"),
        ("Mozilla/5.0 (Android 14; Tablet; rv:121.0) Gecko/121.0 Firefox/121.0", "tablet"),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "desktop"),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/120.0 Safari/537.36", "desktop"),
        ("", "desktop"),
        (None, "desktop"),
    ],
)
def test_the_device_class_comes_from_the_user_agent(agent, device):
    assert device_class(agent) == device
