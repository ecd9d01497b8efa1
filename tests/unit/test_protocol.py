import pytest

from rtp_tag.protocol import (
    MAX_ID_LENGTH,
    MAX_URL_LENGTH,
    MAX_VALUE_LENGTH,
    MAX_VALUES_PER_CALL,
    ProtocolError,
    check_event,
    check_value,
    check_values,
    describe,
)


def valid_event(**changes):
    event = {
        "type": "event",
        "values": ["MyEvent"],
        "event_id": "e1",
        "session_id": "s1",
        "visitor_id": "v1",
        "account": "acme",
        "url": "https://site.example/page",
        "referrer": "",
        "ts": 1_700_000_000_000,
    }
    event.update(changes)
    return event


def test_limits_are_the_ones_the_reference_and_issue_name():
    assert MAX_VALUES_PER_CALL == 4
    assert MAX_VALUE_LENGTH == 256


def test_one_to_four_strings_are_accepted_and_returned_as_a_tuple():
    assert check_values(["a"]) == ("a",)
    assert check_values(["a", "b", "c", "d"]) == ("a", "b", "c", "d")


def test_five_strings_are_refused_with_the_limit_and_what_to_do():
    with pytest.raises(ProtocolError, match=r"holds 5 strings; at most 4 .*again for the rest"):
        check_values(["a", "b", "c", "d", "e"])


def test_an_empty_array_is_refused():
    with pytest.raises(ProtocolError, match="empty array"):
        check_values([])


def test_a_bare_string_is_not_a_list_of_values():
    with pytest.raises(ProtocolError, match="must be a list of strings, not a string"):
        check_values("abc")


def test_a_non_string_element_is_named_by_its_index():
    with pytest.raises(ProtocolError, match=r"customData.value\[1\] must be a string, not a number"):
        check_values(["a", 2])


def test_empty_and_blank_strings_are_refused():
    with pytest.raises(ProtocolError, match="empty string"):
        check_value("")
    with pytest.raises(ProtocolError, match="empty string"):
        check_value("   ")


def test_a_value_may_be_256_characters_but_not_257():
    assert check_value("x" * 256) == "x" * 256
    with pytest.raises(ProtocolError, match="257 characters long; at most 256"):
        check_value("x" * 257)


def test_a_complete_event_passes_as_a_plain_dict():
    event = valid_event()
    checked = check_event(event)
    assert checked == event
    assert type(checked) is dict


def test_a_view_with_no_values_passes_and_one_with_values_is_refused():
    assert check_event(valid_event(type="view", values=[]))["type"] == "view"
    with pytest.raises(ProtocolError, match="a view carries no values"):
        check_event(valid_event(type="view", values=["x"]))


def test_missing_fields_are_all_named():
    event = valid_event()
    del event["session_id"], event["ts"]
    with pytest.raises(ProtocolError, match="lacks the field.s. session_id, ts"):
        check_event(event)


def test_account_and_referrer_are_optional():
    event = valid_event()
    del event["account"], event["referrer"]
    assert check_event(event) == event


def test_an_unknown_type_is_refused():
    with pytest.raises(ProtocolError, match="type must be one of event, view, impression, click, control, not .purchase."):
        check_event(valid_event(type="purchase"))


def test_event_values_are_checked_with_the_same_rules_as_the_tag():
    with pytest.raises(ProtocolError, match="at most 4"):
        check_event(valid_event(values=["a", "b", "c", "d", "e"]))
    with pytest.raises(ProtocolError, match="empty string"):
        check_event(valid_event(values=[""]))


def test_ids_and_url_have_length_caps():
    check_event(valid_event(event_id="e" * MAX_ID_LENGTH))
    with pytest.raises(ProtocolError, match="event_id is longer than 64"):
        check_event(valid_event(event_id="e" * (MAX_ID_LENGTH + 1)))
    with pytest.raises(ProtocolError, match="url is longer than 2048"):
        check_event(valid_event(url="https://x.example/" + "p" * MAX_URL_LENGTH))


def test_ids_must_be_non_empty_strings():
    with pytest.raises(ProtocolError, match="visitor_id must be a non-empty string"):
        check_event(valid_event(visitor_id=""))
    with pytest.raises(ProtocolError, match="session_id must be a non-empty string"):
        check_event(valid_event(session_id=42))


def test_ts_must_be_a_non_negative_number_and_not_a_boolean():
    for bad in (-1, True, "1700000000000", None, float("nan"), float("inf"), 2**64):
        with pytest.raises(ProtocolError, match="ts must be a timestamp"):
            check_event(valid_event(ts=bad))


def test_the_drop_count_is_a_whole_number_of_zero_or_more():
    assert check_event(valid_event(dropped=3))["dropped"] == 3
    for bad in (-1, 1.5, True, 2**64):
        with pytest.raises(ProtocolError, match="dropped must be a whole number"):
            check_event(valid_event(dropped=bad))


def test_a_non_object_event_is_refused():
    with pytest.raises(ProtocolError, match="must be a JSON object, not an array"):
        check_event([valid_event()])


def test_values_are_described_in_javascript_terms():
    class DomNode:
        description = "an HTMLButtonElement"

    assert describe(None) == "null"
    assert describe(True) == "a boolean"
    assert describe(3.5) == "a number"
    assert describe("x") == "a string"
    assert describe({"a": 1}) == "an object"
    assert describe([1]) == "an array"
    assert describe(len) == "a function"
    assert describe(DomNode()) == "an HTMLButtonElement"


def test_campaign_events_name_their_campaign_in_props():
    for kind in ("impression", "click", "control"):
        event = valid_event(type=kind, values=[], props={"campaign": "Hero"})
        assert check_event(event) == event


def test_a_campaign_event_without_its_campaign_is_refused_with_what_to_give():
    with pytest.raises(ProtocolError, match=r"a click names its campaign: give props.campaign"):
        check_event(valid_event(type="click", values=[]))
    with pytest.raises(ProtocolError, match=r"props.campaign is an empty string"):
        check_event(valid_event(type="impression", values=[], props={"campaign": " "}))


def test_malformed_props_are_refused():
    with pytest.raises(ProtocolError, match="props must be an object"):
        check_event(valid_event(props=["Hero"]))
    with pytest.raises(ProtocolError, match="props.campaign must be a string, not a number"):
        check_event(valid_event(type="control", values=[], props={"campaign": 3}))
    with pytest.raises(ProtocolError, match="an impression carries no values"):
        check_event(valid_event(type="impression", values=["x"], props={"campaign": "Hero"}))


def test_a_view_carries_custom_vars_in_props():
    view = valid_event(type="view", values=[], props={"customVar1": "gold", "customVar5": "x" * 100})
    assert check_event(view)["props"] == {"customVar1": "gold", "customVar5": "x" * 100}


@pytest.mark.parametrize(
    "kind, props, message",
    [
        ("view", "gold", "props must be an object"),
        ("view", {"customVar6": "x"}, "props.customVar6 is not a field of 'view' events (theirs: customVar1, "),
        ("view", {"customVar1": 7}, "props.customVar1 must be a string, not a number"),
        ("view", {"customVar2": "x" * 101}, "props.customVar2 is 101 characters long; at most 100 are allowed"),
        ("event", {"customVar1": "x"}, "props.customVar1 is not a field of 'event' events (theirs: none)"),
        ("impression", {"campaign": "Hero", "zone": "hero"}, "props.zone is not a field of 'impression' events"),
    ],
)
def test_bad_props_are_refused_saying_which_field(kind, props, message):
    event = valid_event(type=kind, props=props, **({"values": []} if kind != "event" else {}))
    with pytest.raises(ProtocolError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_event(event)
