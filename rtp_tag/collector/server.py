"""Run the collector under uvicorn and say where it listens once it does."""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette

from .access import CLOSED, Access
from .app import create_app
from .campaigns import EMPTY_CONFIG, CampaignFile
from .limits import DEFAULT_EVENTS_PER_MINUTE, WINDOW_SECONDS, EventRateLimiter
from .stores import Store, open_store

WORKER_SETTINGS = "RTP_TAG_WORKER_SETTINGS"
"""The environment variable that hands ``run``'s settings to each worker process."""


class _AnnouncingServer(uvicorn.Server):
    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            print(f"rtp-tag serving on http://{host}:{port}/ (tag: /rtp.js, demo: /demo/)", flush=True)


def run(
    host: str,
    port: int,
    db: str,
    dist: Path,
    campaigns: Path | None = None,
    workers: int = 1,
    *,
    access: Access = CLOSED,
    rate_limit: int = DEFAULT_EVENTS_PER_MINUTE,
    rate_window: float = WINDOW_SECONDS,
    trust_proxy: bool = False,
    retain_days: float | None = None,
) -> int:
    """Serve until stopped; a malformed ``campaigns`` file raises CampaignConfigError
    first, a database that cannot be used StoreUnavailable.

    With ``workers`` > 1, that many processes (uvicorn's workers) accept on one socket,
    each with its own store connection(s) and its own reading of the campaigns file:
    the same state as replicas on one machine (each with its own rate limit counts).
    The settings are checked here first (the schema migrated once), so a bad one stops
    the start with one message."""
    campaign_file = CampaignFile(campaigns, _report) if campaigns is not None else None
    store = open_store(db)  # a database that cannot be used stops the start here, in one line
    for note in access.startup_notes():
        _report(note)
    options = {
        "read_keys": list(access.read_keys), "allowed_origins": list(access.allowed_origins),
        "rate_limit": rate_limit, "rate_window": rate_window, "trust_proxy": trust_proxy,
        "retain_days": retain_days,
    }
    if workers > 1:
        store.close()
        settings = {"db": db, "dist": str(dist), "campaigns": str(campaigns) if campaigns else None, **options}
        return _run_workers(host, port, workers, settings)
    app = _app(store, dist, campaign_file, options)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on", proxy_headers=False)
    server = _AnnouncingServer(config)
    try:
        server.run()  # on the event loop uvicorn picks (uvloop when installed)
    finally:
        store.close()
    return 0 if server.started else 1


def _app(store: Store, dist: Path, campaign_file: CampaignFile | None, options: dict[str, Any]) -> Starlette:
    """The app over ``store`` with the access, limit and retention ``options`` of ``run``.
    The client address is the peer's unless ``trust_proxy`` (then limits.client_address
    reads X-Forwarded-For): uvicorn runs with proxy_headers off, never rewriting it itself."""
    return create_app(
        store, dist, campaign_file.current if campaign_file else lambda: EMPTY_CONFIG,
        access=Access(tuple(options["read_keys"]), tuple(options["allowed_origins"])),
        limiter=EventRateLimiter(options["rate_limit"], options["rate_window"]),
        trust_proxy=options["trust_proxy"], retain_days=options["retain_days"], say=_report,
    )


def worker_app() -> Starlette:
    """The app of one worker process, from the settings ``run`` left in the environment."""
    settings = json.loads(os.environ[WORKER_SETTINGS])
    campaigns = Path(settings["campaigns"]) if settings["campaigns"] else None
    campaign_file = CampaignFile(campaigns, _report) if campaigns is not None else None
    store = open_store(settings["db"])  # closed with the process
    return _app(store, Path(settings["dist"]), campaign_file, settings)


def workers_listener(host: str, port: int) -> socket.socket:
    """The socket the workers accept on. It sets TCP_NODELAY, which the connections it
    accepts inherit: uvicorn takes a socket handed over by ``fd`` for a Unix one and sets
    no option on them, so Nagle's algorithm held each response's body back until the
    client acknowledged its headers, which clients delay by up to 40 ms (issue 9: 2
    workers served 360 requests/s, each at least 40 ms, where one served 2,000)."""
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    listener.bind((host, port))
    listener.listen(2048)
    return listener


def _run_workers(host: str, port: int, workers: int, settings: dict[str, Any]) -> int:
    listener = workers_listener(host, port)
    bound_host, bound_port = listener.getsockname()[:2]
    os.environ[WORKER_SETTINGS] = json.dumps(settings)
    url = f"http://{bound_host}:{bound_port}/"
    threading.Thread(target=_announce_when_answering, args=(url, workers), daemon=True).start()
    uvicorn.run(
        f"{__name__}:worker_app", factory=True, fd=listener.fileno(), workers=workers,
        log_level="warning", lifespan="on", proxy_headers=False,
    )
    return 0


def _announce_when_answering(url: str, workers: int) -> None:
    """Say where we serve once a worker answers (the socket accepts before any is ready)."""
    while True:
        try:
            with urllib.request.urlopen(url + "api/", timeout=5):
                break
        except urllib.error.HTTPError:
            break  # an answer, if an error one: a worker is up
        except OSError:
            time.sleep(0.1)
    print(f"rtp-tag serving on {url} with {workers} workers (tag: /rtp.js, demo: /demo/)", flush=True)


def _report(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
