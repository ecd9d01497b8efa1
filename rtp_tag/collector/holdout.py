"""Which visitors a campaign holds back (its control group), to measure its lift.

The assignment is a hash of the campaign's name and the visitor's id, so every page,
tab and collector replica puts a visitor in the same group without sharing any state,
and changing one campaign's holdout leaves the other campaigns' groups alone.
"""

from __future__ import annotations

import hashlib

from .campaigns import Campaign

TREATMENT = "treatment"
CONTROL = "control"


def position(campaign_name: str, visitor_id: str) -> float:
    """The visitor's place in [0, 1) for this campaign, uniform over visitors."""
    digest = hashlib.sha256(f"{campaign_name}\0{visitor_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def group_of(campaign: Campaign, visitor_id: str) -> str:
    """``control`` for the first ``holdout`` share of positions, else ``treatment``."""
    return CONTROL if position(campaign.name, visitor_id) < campaign.holdout else TREATMENT
