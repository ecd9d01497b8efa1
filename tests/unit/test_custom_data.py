import pytest

from rtp_tag.custom_data import values_from_custom_data
from rtp_tag.protocol import ProtocolError


def test_the_references_single_value_example():
    custom_data = {"value": "MyEvent"}
    assert values_from_custom_data(custom_data) == ("MyEvent",)


def test_the_references_array_example():
    custom_data = {"value": ["MyEvent", "download - example whitepaper"]}
    assert values_from_custom_data(custom_data) == ("MyEvent", "download - example whitepaper")


def test_a_bare_string_is_shorthand_for_value():
    assert values_from_custom_data("MyEvent") == ("MyEvent",)


def test_a_bare_array_is_shorthand_for_value():
    assert values_from_custom_data(["A", "B"]) == ("A", "B")


def test_four_values_pass_and_five_are_refused_with_advice():
    assert len(values_from_custom_data({"value": ["a", "b", "c", "d"]})) == 4
    with pytest.raises(ProtocolError) as caught:
        values_from_custom_data({"value": ["a", "b", "c", "d", "e"]})
    message = str(caught.value)
    assert "holds 5 strings" in message
    assert "at most 4" in message
    assert "rtp('send', 'event', ...) again" in message


def test_an_object_without_value_names_its_keys_and_the_usage():
    with pytest.raises(ProtocolError, match=r"no 'value' key \(it has name, val\): pass \{value: 'Name'\}"):
        values_from_custom_data({"val": "x", "name": "y"})


def test_an_empty_object_says_it_has_no_keys():
    with pytest.raises(ProtocolError, match=r"no 'value' key \(it has no keys\)"):
        values_from_custom_data({})


@pytest.mark.parametrize(
    "custom_data, message",
    [
        (None, "customData must be an object, not null"),
        (5, "customData must be an object, not a number"),
        (True, "customData must be an object, not a boolean"),
        ({"value": None}, "customData.value must be a string or an array of strings, not null"),
        ({"value": {"nested": "x"}}, "customData.value must be a string or an array of strings, not an object"),
        ({"value": 7}, "customData.value must be a string or an array of strings, not a number"),
        ({"value": [1]}, r"customData.value\[0\] must be a string, not a number"),
        ({"value": ["ok", ["nested"]]}, r"customData.value\[1\] must be a string, not an array"),
        ({"value": ""}, "customData.value is an empty string"),
        ({"value": ["ok", " "]}, r"customData.value\[1\] is an empty string"),
        ({"value": []}, "empty array"),
        ({"value": b"bytes"}, "must be a string or an array of strings"),
    ],
)
def test_other_shapes_are_refused_with_a_clear_message(custom_data, message):
    with pytest.raises(ProtocolError, match=message):
        values_from_custom_data(custom_data)
