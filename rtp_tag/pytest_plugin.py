"""pytest fixtures for testing pages that carry the tag, against the real collector.

Installed with rtp-tag (entry point ``pytest11``), so a site's own CI can use them:

- ``rtp_server``: a real ``rtp-tag serve`` process on a free port with its own
  database and its own read key (``.read_key``, which ``.get()`` and ``.events()``
  send); ``.events()``, ``.wait_for_events(n)``, ``.stop()``, ``.start()``.
- ``rtp_server_db``: the database ``rtp_server`` uses (a new SQLite file); override
  it to run the collector on another, such as a ``postgresql://`` URL.
- ``rtp_pages``: a second origin serving pages you write, with ``{tag}`` and
  ``{collector}`` filled in, and any response headers you give (a CSP, say).
- ``rtp_console``: the console messages of pytest-playwright's ``page``.
- The built tag found as ``rtp-tag serve`` finds it (``RTP_TAG_DIST``, ``./dist``, or
  the tag inside the installed package).
- Browsers found without configuration: Chromium and Firefox at their system paths,
  or the paths in ``RTP_TAG_CHROMIUM`` / ``RTP_TAG_FIREFOX``.
"""

from __future__ import annotations

import http.server
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .layout import DIST_ENV, NoBuiltTag, find_dist

READY_TIMEOUT = 30.0
TAG_READY = "() => window.rtp && window.rtp.loaded === true"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: drives real browsers against the real collector")
    if config.pluginmanager.hasplugin("playwright"):
        # Registered after pytest-playwright, so its launch options give way to ours.
        config.pluginmanager.import_plugin("rtp_tag.pytest_browsers")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


SERVE_PROGRAM = (sys.executable, "-m", "rtp_tag.cli")
"""``rtp-tag`` as this Python runs it."""


class Collector:
    """A real ``rtp-tag serve`` process; it can be stopped and started again on the
    same port and database, as an outage would. ``dist`` None serves the tag that
    ``rtp-tag serve`` finds itself, run by ``program`` in ``cwd``."""

    def __init__(
        self, dist: Path | None, db: Path | str, extra_args: tuple[str, ...] = (),
        program: tuple[str, ...] = SERVE_PROGRAM, cwd: Path | None = None,
    ) -> None:
        self.dist = dist
        self.db = db
        self.port = free_port()
        self.extra_args = extra_args
        self.program = program
        self.cwd = cwd
        self.read_key = secrets.token_urlsafe(24)
        self._process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def tag_url(self) -> str:
        return self.url + "rtp.js"

    def start(self) -> None:
        command = [
            *self.program, "serve", "--port", str(self.port), "--db", str(self.db),
            *(("--dist", str(self.dist)) if self.dist is not None else ()), *self.extra_args,
        ]
        self._process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=self.cwd,
            env={**os.environ, "RTP_TAG_READ_KEY": self.read_key},
        )
        deadline = time.monotonic() + READY_TIMEOUT
        assert self._process.stdout is not None
        while time.monotonic() < deadline:
            line = self._process.stdout.readline()
            if "serving on" in line:
                threading.Thread(target=self._drain, daemon=True).start()
                return
            if not line and self._process.poll() is not None:
                break
        self.stop()
        raise RuntimeError(f"rtp-tag serve did not start on port {self.port}")

    def _drain(self) -> None:
        process = self._process
        if process and process.stdout:
            for line in process.stdout:
                sys.stderr.write(f"[rtp-tag serve] {line}")

    def stop(self) -> None:
        """Stop the process gracefully: SIGTERM, then SIGKILL if it lingers."""
        process, self._process = self._process, None
        if process is None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        """End the process at once, as a crash would."""
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait()

    def get(self, path: str) -> Any:
        """GET ``path`` with the read key; return the decoded JSON answer."""
        request = urllib.request.Request(
            self.url + path.lstrip("/"), headers={"Authorization": f"Bearer {self.read_key}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def post(self, body: bytes | str, path: str = "collect") -> tuple[int, Any]:
        """POST ``body`` as the tag does; return the status and the decoded JSON answer."""
        data = body.encode() if isinstance(body, str) else body
        request = urllib.request.Request(
            self.url + path, data=data, method="POST", headers={"Content-Type": "text/plain;charset=UTF-8"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    def events(self, visitor_id: str | None = None) -> list[dict[str, Any]]:
        """Every stored event (of one visitor, when given), oldest first, page after page."""
        events: list[dict[str, Any]] = []
        cursor = None
        while True:
            query = {"limit": "10000"}
            if visitor_id:
                query["visitor_id"] = visitor_id
            if cursor is not None:
                query["after"] = str(cursor)
            answer = self.get("api/events?" + urllib.parse.urlencode(query))
            events.extend(answer["events"])
            cursor = answer["next"]
            if cursor is None:
                return events

    def wait_for_events(
        self,
        count: int,
        timeout: float = 30.0,
        where: Callable[[dict[str, Any]], bool] = lambda event: True,
    ) -> list[dict[str, Any]]:
        """Poll until at least ``count`` matching events are stored; return them all."""
        deadline = time.monotonic() + timeout
        matching: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            try:
                matching = [event for event in self.events() if where(event)]
            except (urllib.error.URLError, ConnectionError):
                matching = []
            if len(matching) >= count:
                return matching
            time.sleep(0.1)
        raise AssertionError(f"expected {count} event(s) within {timeout:.0f} s, the collector has {matching}")


class Pages:
    """A second origin (127.0.0.1, another port) that serves test pages."""

    def __init__(self, root: Path, collector: Collector) -> None:
        self.root = root
        self.collector = collector
        self.headers: dict[str, dict[str, str]] = {}
        pages = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=str(pages.root), **kwargs)

            def end_headers(self) -> None:
                for name, value in pages.headers.get(self.path.split("?")[0].lstrip("/"), {}).items():
                    self.send_header(name, value)
                self.send_header("Cache-Control", "no-store")
                super().end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, name: str, html: str, headers: dict[str, str] | None = None) -> str:
        """Write a page (``{tag}``, ``{collector}`` and ``{collector_origin}`` are filled in); return its URL."""
        text = (
            html.replace("{tag}", self.collector.tag_url)
            .replace("{collector_origin}", self.collector.url.rstrip("/"))
            .replace("{collector}", self.collector.url)
        )
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if headers:
            self.headers[name] = headers
        return f"{self.origin}/{name}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="session")
def rtp_dist() -> Path:
    """The built tag, found as ``rtp-tag serve`` finds it: ``RTP_TAG_DIST``, else
    ``./dist``, else the tag inside the installed package."""
    try:
        return find_dist(os.environ.get(DIST_ENV))
    except NoBuiltTag as problem:
        pytest.fail(str(problem), pytrace=False)


@pytest.fixture
def rtp_server_args() -> tuple[str, ...]:
    """Extra ``rtp-tag serve`` arguments; override it to pass ``--campaigns`` and the like."""
    return ()


@pytest.fixture
def rtp_server_db(tmp_path: Path) -> str:
    """The database ``rtp_server`` stores into: a new SQLite file; override it to give
    another (a ``postgresql://`` URL, say)."""
    return str(tmp_path / "events.sqlite3")


@pytest.fixture
def rtp_server(rtp_dist: Path, rtp_server_db: str, rtp_server_args: tuple[str, ...]) -> Iterator[Collector]:
    """A real collector with an empty database, stopped after the test."""
    collector = Collector(rtp_dist, rtp_server_db, rtp_server_args)
    collector.start()
    yield collector
    collector.stop()


@pytest.fixture
def rtp_pages(rtp_server: Collector, tmp_path: Path) -> Iterator[Pages]:
    """Pages on a second origin that load the tag from ``rtp_server``."""
    pages = Pages(tmp_path / "site", rtp_server)
    yield pages
    pages.close()


@pytest.fixture
def rtp_console(page: Any) -> list[str]:
    """Every console message of ``page``, as ``"type: text"``."""
    messages: list[str] = []
    page.on("console", lambda message: messages.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: messages.append(f"pageerror: {error}"))
    return messages
