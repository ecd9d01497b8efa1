"""Event stores behind one Protocol (``base.Store``); the only modules holding SQL."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs

from .base import MAX_PAGE, Store, StoreBusy, StoreUnavailable, UnknownCursor
from .sqlite import SqliteStore

__all__ = [
    "MAX_PAGE", "Store", "StoreBusy", "StoreUnavailable", "UnknownCursor", "SqliteStore", "open_store",
]

SQLITE_PREFIX = "sqlite:///"


def open_store(url_or_path: str | Path) -> Store:
    """The store at ``url_or_path``: a file path, or ``sqlite:///relative/path``,
    ``sqlite:////absolute/path``, with ``?synchronous=NORMAL`` only to measure what
    durable commits cost (bench/ingest.py)."""
    text = str(url_or_path)
    if not text.startswith(SQLITE_PREFIX):
        return SqliteStore(text)
    path, _, query = text[len(SQLITE_PREFIX):].partition("?")
    options = {name: values[-1] for name, values in parse_qs(query).items()}
    return SqliteStore(path, synchronous=options.get("synchronous", "FULL").upper())
