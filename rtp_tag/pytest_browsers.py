"""Launch options for the system's own browsers, replacing pytest-playwright's
defaults (which expect browsers that ``playwright install`` downloaded)."""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest


def _browser_path(name: str) -> str | None:
    candidates = {
        "chromium": ("RTP_TAG_CHROMIUM", ("chromium", "chromium-browser", "google-chrome")),
        "firefox": ("RTP_TAG_FIREFOX", ("firefox-esr", "firefox")),
    }
    if name not in candidates:
        return None
    variable, programs = candidates[name]
    if os.environ.get(variable):
        return os.environ[variable]
    for program in programs:
        found = shutil.which(program)
        if found:
            return found
    return None


def launch_args(browser_name: str, headed: bool = False) -> dict[str, Any]:
    """Playwright launch options for the system's own Chromium or Firefox."""
    options: dict[str, Any] = {"headless": not headed}
    path = _browser_path(browser_name)
    if path:
        options["executable_path"] = path
    if browser_name == "chromium":
        options["args"] = [
            "--no-sandbox", "--disable-background-networking", "--disable-component-update", "--no-first-run"
        ]
    elif browser_name == "firefox":
        options["channel"] = "moz-firefox"  # stock Firefox, driven over WebDriver BiDi
    return options


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_name: str, pytestconfig: pytest.Config) -> dict[str, Any]:
    return launch_args(browser_name, headed=bool(pytestconfig.getoption("--headed", False)))
