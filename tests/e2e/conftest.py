"""What the end-to-end modules share: the campaigns file their collector serves, and
patience with pages that boot a WebAssembly runtime on a loaded 2-core CI machine."""

from __future__ import annotations

from pathlib import Path

import pytest

PAGE_TIMEOUT_MS = 60_000
"""How long a page's waits may take: a first boot compiles the runtime, which takes
seconds on a quiet machine and tens of seconds on a loaded CI runner."""


@pytest.fixture
def campaigns(request: pytest.FixtureRequest) -> str | Path | None:
    """The campaigns TOML the collector serves: the test module's ``CAMPAIGNS`` when it
    has one (a file's text, or the path of an existing file), else none; parametrize
    ``campaigns`` to give a test another."""
    return getattr(request.module, "CAMPAIGNS", None)


@pytest.fixture
def rtp_server_args(tmp_path: Path, campaigns: str | Path | None) -> tuple[str, ...]:
    """``rtp-tag serve`` with ``--campaigns`` when the test has campaigns."""
    if campaigns is None:
        return ()
    if isinstance(campaigns, str):
        path = tmp_path / "campaigns.toml"
        path.write_text(campaigns)
        campaigns = path
    return ("--campaigns", str(campaigns))


@pytest.fixture
def page(page):  # type: ignore[no-untyped-def]  # pytest-playwright's page, more patient
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    return page
