from rtp_tag.pytest_plugin import TAG_READY


def test_spec_first_example_reaches_the_collector(page, rtp_server, rtp_pages):
    url = rtp_pages.add("index.html", '<script src="{tag}"></script><p>hi</p>')
    page.goto(url)
    page.wait_for_function(TAG_READY)
    page.evaluate("var customData = {value: 'MyEvent'}; rtp('send', 'event', customData);")
    [event] = rtp_server.wait_for_events(1)
    assert event["values"] == ["MyEvent"]
