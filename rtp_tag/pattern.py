"""``rtp.checkPattern(str, pattern)``: the reference's ``%`` wildcard match.

``'%x'`` ends with x, ``'x%'`` starts with x, ``'%x%'`` contains x, no ``%`` is
equality; ``%`` anywhere else matches any run of characters too. Case is ignored.
web/rtp.js holds a JavaScript copy (``checkPattern``), so the page gets an answer
synchronously before the runtime is ready; tests/unit/check_pattern_cases.json is
the one table of cases both copies are tested against.
"""

from __future__ import annotations

WILDCARD = "%"


def check_pattern(text: object, pattern: object) -> bool:
    """Whether ``text`` matches ``pattern``; False for anything but two strings."""
    if not isinstance(text, str) or not isinstance(pattern, str):
        return False
    text, parts = text.lower(), pattern.lower().split(WILDCARD)
    if len(parts) == 1:
        return text == parts[0]
    first, *middle, last = parts
    if len(text) < len(first) + len(last) or not text.startswith(first) or not text.endswith(last):
        return False
    position, end = len(first), len(text) - len(last)
    for part in middle:
        found = text.find(part, position, end)
        if found < 0:
            return False
        position = found + len(part)
    return True
