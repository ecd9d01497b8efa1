"""One valid event as the tag sends it, for the collector's tests to vary.

On the import path of every test module (pytest's ``pythonpath`` in pyproject.toml).
"""

from __future__ import annotations

import time
import uuid
from typing import Any


def example_event(**overrides: Any) -> dict[str, Any]:
    """A custom data event with a new ``event_id``, sent now; ``overrides`` replace
    fields, and remove them when given as None (the optional ones, to send without)."""
    data: dict[str, Any] = {
        "type": "event",
        "values": ["MyEvent"],
        "event_id": uuid.uuid4().hex,
        "session_id": "s" * 32,
        "visitor_id": "v" * 32,
        "account": "ACME-1",
        "url": "https://site.example/whitepaper",
        "referrer": "https://site.example/",
        "ts": int(time.time() * 1000),
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}
