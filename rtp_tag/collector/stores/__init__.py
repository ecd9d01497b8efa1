"""Event stores behind one Protocol (``base.Store``); the only modules holding SQL."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs

from .base import MAX_PAGE, Outcome, Store, StoreBusy, StoreUnavailable, UnknownCursor
from .sqlite import SqliteStore

__all__ = [
    "MAX_PAGE", "Outcome", "Store", "StoreBusy", "StoreUnavailable", "UnknownCursor", "SqliteStore", "open_store",
]

SQLITE_PREFIX = "sqlite:///"


POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_store(url_or_path: str | Path) -> Store:
    """The store at ``url_or_path``: ``postgresql://USER:PASS@HOST:PORT/DB`` opens
    PostgreSQL; a file path, or ``sqlite:///relative/path``, ``sqlite:////absolute/path``
    opens SQLite, with ``?synchronous=NORMAL`` only to measure what durable commits
    cost (bench/ingest.py). A database that cannot be used raises StoreUnavailable,
    whose message names it without its password."""
    text = str(url_or_path)
    if text.startswith(POSTGRES_SCHEMES):
        try:
            from .postgres import PostgresStore
        except ImportError as problem:
            raise StoreUnavailable(
                f"PostgreSQL needs psycopg 3 ({problem}): pip install 'rtp-tag[postgres]'"
            ) from None
        return PostgresStore(text)
    if not text.startswith(SQLITE_PREFIX):
        return SqliteStore(text)
    path, _, query = text[len(SQLITE_PREFIX):].partition("?")
    options = {name: values[-1] for name, values in parse_qs(query).items()}
    return SqliteStore(path, synchronous=options.get("synchronous", "FULL").upper())
