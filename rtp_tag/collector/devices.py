"""The device class of a request, from its User-Agent: the ``device`` segment rule.

Read at each personalization request, not stored: it is the visitor's current
device. Limits: iPadOS Safari asks for desktop sites by default and sends a Mac's
User-Agent, so those iPads count as desktop (no server can tell them apart).
"""

from __future__ import annotations

import re

DEVICE_CLASSES = ("mobile", "tablet", "desktop")
_TABLET = re.compile(r"ipad|tablet|kindle|silk/|playbook|nexus (7|9|10)|sm-t\d|(android(?!.*mobile))", re.I)
_MOBILE = re.compile(r"mobi|iphone|ipod|windows phone|blackberry|bb10|opera mini|iemobile|webos", re.I)


def device_class(user_agent: str | None) -> str:
    """``"mobile"``, ``"tablet"`` or ``"desktop"`` (also for a missing or unknown agent)."""
    agent = user_agent or ""
    if _TABLET.search(agent):
        return "tablet"
    if _MOBILE.search(agent):
        return "mobile"
    return "desktop"
