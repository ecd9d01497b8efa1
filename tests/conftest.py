"""Fixtures shared by the collector's tests: the two stores they run against.

``postgres`` is one throwaway PostgreSQL cluster for the whole session (started on
first use, removed at the end). ``db`` is a fresh database for one test, SQLite or
PostgreSQL: a test that takes it runs once on each. ``rtp_server`` runs on SQLite
unless a test asks for both with
``@pytest.mark.parametrize("rtp_server_db", STORES, indirect=True)``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from rtp_tag.throwaway_postgres import ThrowawayPostgres

STORES = ("sqlite", "postgresql")
_database_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[ThrowawayPostgres]:
    """A PostgreSQL cluster of our own on a free port, removed after the session."""
    cluster = ThrowawayPostgres()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


def new_database(request: pytest.FixtureRequest, kind: str, tmp_path: Path) -> str:
    """An empty database of ``kind``: a SQLite file path or a PostgreSQL URL."""
    if kind == "sqlite":
        return str(tmp_path / "events.sqlite3")
    cluster: ThrowawayPostgres = request.getfixturevalue("postgres")
    return cluster.create_database(f"test_{next(_database_numbers)}")


@pytest.fixture(params=STORES)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database for this test, once SQLite and once PostgreSQL."""
    return new_database(request, request.param, tmp_path)


@pytest.fixture
def rtp_server_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The plugin's ``rtp_server_db``, on the store a test parametrises it with (SQLite by default)."""
    return new_database(request, getattr(request, "param", "sqlite"), tmp_path)
