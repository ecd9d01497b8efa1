"""rtp-tag as its users install it (issue 15): the wheel ``pip wheel .`` builds,
installed into a fresh virtual environment outside the checkout, its dependencies from
the package index. There ``rtp-tag serve`` serves the tag the wheel carries, and a site's
repository (``examples/site``) passes its tests with the installed pytest plugin.

Slow by nature (a wheel build and an install): the wheel's build hook reuses the
checkout's ``dist/`` when it is up to date (``./dev test`` has just built it), so the
tag is not built twice.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest

from rtp_tag import __version__
from rtp_tag.layout import MANIFEST
from rtp_tag.pytest_browsers import launch_args
from rtp_tag.pytest_plugin import TAG_READY, Collector, Pages

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "examples" / "site"
pytestmark = pytest.mark.timeout(1200)


def _run(*command: object, **options: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(part) for part in command], capture_output=True, text=True, **options)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel ``pip wheel .`` builds from this checkout."""
    out = tmp_path_factory.mktemp("wheels")
    built = _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--verbose", "--wheel-dir", out, ROOT, timeout=900)
    (found,) = out.glob("rtp_tag-*.whl")
    reported = re.findall(r"rtp-tag: (wheel .*|the built tag in the wheel: .*)", built.stdout + built.stderr)
    print(f"\n{found.name}: {found.stat().st_size / 1024 / 1024:.2f} MiB ({'; '.join(reported)})")
    return found


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``bin/`` of a fresh virtual environment, outside the checkout, holding
    ``rtp-tag[test]`` from the wheel and its dependencies from the package index."""
    venv = tmp_path_factory.mktemp("venv")
    _run(sys.executable, "-m", "venv", venv, timeout=300)
    _run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", f"{wheel}[test]", timeout=900)
    return venv / "bin"


@pytest.fixture
def outside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory without ``dist/``, and no ``RTP_TAG_DIST``: only the package's own tag."""
    monkeypatch.delenv("RTP_TAG_DIST", raising=False)
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    directory = tmp_path / "elsewhere"
    directory.mkdir()
    return directory


def test_the_wheel_carries_the_built_tag_once_each_asset_precompressed(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assets = json.loads((ROOT / "dist" / MANIFEST).read_text())
    assert "rtp_tag/dist/manifest.json" in names and "rtp_tag/dist/demo/index.html" in names
    for asset in assets:
        copies = [f"rtp_tag/dist/{asset}{suffix}" in names for suffix in ("", ".gz", ".br")]
        assert copies == [False, False, True], asset
    modules = {path.relative_to(ROOT).as_posix() for path in (ROOT / "rtp_tag").rglob("*.py")}
    assert {name for name in names if name.endswith(".py")} == modules  # no more (a stale build/lib/), no less


def test_the_installed_command_says_its_version(installed, outside):
    result = _run(installed / "rtp-tag", "--version", cwd=outside, timeout=60)
    assert result.stdout.strip() == f"rtp-tag {__version__}"


def test_installed_rtp_tag_serve_serves_its_own_tag_to_a_page_of_another_origin(installed, outside, playwright):
    """In Chromium only (the sample site's tests below run both browsers)."""
    collector = Collector(None, outside / "events.sqlite3", program=(str(installed / "rtp-tag"),), cwd=outside)
    collector.start()
    pages = Pages(outside / "site", collector)
    browser = playwright.chromium.launch(**launch_args("chromium"))
    try:
        page = browser.new_page()
        with urllib.request.urlopen(collector.tag_url, timeout=30) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/javascript")
        page.goto(pages.add("index.html", '<script src="{tag}"></script>'
                                          '<button data-rtp-event="installed">Go</button>'))
        page.wait_for_function(TAG_READY)
        page.click("button")
        assert collector.wait_for_events(1)[0]["values"] == ["installed"]
    finally:
        browser.close()
        pages.close()
        collector.stop()


def test_a_sites_repository_passes_its_tests_with_the_installed_plugin_in_both_browsers(installed, outside):
    site = shutil.copytree(SITE, outside / "site")
    result = subprocess.run([installed / "pytest"], cwd=site, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert re.search(r"\b2 passed\b", result.stdout), result.stdout  # Chromium and Firefox


def test_the_sample_sites_test_is_the_readme_example_verbatim():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Testing your own pages", 1)[1]
    example = re.search(r"```python\n(.*?)```", section, re.S)
    assert example is not None, "README's 'Testing your own pages' lost its python example"
    assert example[1] == (SITE / "test_site.py").read_text()
