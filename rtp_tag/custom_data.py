"""Turn the ``customData`` argument of ``rtp('send', 'event', customData)`` into values.

The reference documents customData as ``{value: 'X'}`` or ``{value: ['X', 'Y']}``;
its parameter table also calls it "string or array", so a bare string or array is
accepted as shorthand for ``{value: ...}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .protocol import ProtocolError, check_value, check_values, describe

USAGE = "pass {value: 'Name'} or {value: ['A', 'B']} (1 to 4 strings)"


def values_from_custom_data(custom_data: object) -> tuple[str, ...]:
    """Return the 1..4 values ``custom_data`` names, or raise ProtocolError."""
    if isinstance(custom_data, Mapping):
        if "value" not in custom_data:
            keys = ", ".join(sorted(map(str, custom_data))) or "no keys"
            raise ProtocolError(f"customData has no 'value' key (it has {keys}): {USAGE}")
        return _values(custom_data["value"])
    if isinstance(custom_data, (str, list, tuple)):
        return _values(custom_data)
    raise ProtocolError(f"customData must be an object, not {describe(custom_data)}: {USAGE}")


def _values(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (check_value(value),)
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        return check_values(value)
    raise ProtocolError(
        f"customData.value must be a string or an array of strings, not {describe(value)}"
    )
