import json
from pathlib import Path

import pytest

from rtp_tag.pattern import check_pattern

CASES = json.loads((Path(__file__).resolve().parent / "check_pattern_cases.json").read_text("utf-8"))["cases"]


@pytest.mark.parametrize("text, pattern, expected", CASES)
def test_check_pattern_answers_the_shared_table_of_cases(text, pattern, expected):
    assert check_pattern(text, pattern) is expected
