"""Event stores behind one Protocol (``base.Store``); the only modules holding SQL."""

from __future__ import annotations

from pathlib import Path

from .base import Store, StoreBusy, StoreUnavailable
from .sqlite import SqliteStore

__all__ = ["Store", "StoreBusy", "StoreUnavailable", "SqliteStore", "open_store"]


def open_store(url_or_path: str | Path) -> Store:
    """The store at ``url_or_path``: a file path (or ``sqlite:///path``) opens SQLite."""
    text = str(url_or_path)
    if text.startswith("sqlite:///"):
        text = text[len("sqlite:///"):]
    return SqliteStore(text)
