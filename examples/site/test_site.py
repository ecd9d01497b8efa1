from pathlib import Path

from rtp_tag.pytest_plugin import TAG_READY

SITE = Path(__file__).parent


def test_download_button_is_counted(page, rtp_server, rtp_pages):
    # The page as deployed, loading the tag from the test's own collector instead.
    html = (SITE / "index.html").read_text().replace("https://rtp.example.com/rtp.js", "{tag}")
    page.goto(rtp_pages.add("index.html", html))
    page.wait_for_function(TAG_READY)
    page.click("text=Download")
    assert rtp_server.wait_for_events(1)[0]["values"] == ["download"]
