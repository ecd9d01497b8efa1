"""Run the collector under uvicorn and say where it listens once it does."""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

import uvicorn

from .app import create_app
from .campaigns import EMPTY_CONFIG, CampaignFile
from .stores import open_store


class _AnnouncingServer(uvicorn.Server):
    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            print(f"rtp-tag serving on http://{host}:{port}/ (tag: /rtp.js, demo: /demo/)", flush=True)


def run(host: str, port: int, db: str, dist: Path, campaigns: Path | None = None) -> int:
    """Serve until stopped; a malformed ``campaigns`` file raises CampaignConfigError
    first, a database that cannot be used StoreUnavailable."""
    campaign_file = CampaignFile(campaigns, _report) if campaigns is not None else None
    store = open_store(db)
    app = create_app(store, dist, campaign_file.current if campaign_file else lambda: EMPTY_CONFIG)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
    server = _AnnouncingServer(config)
    try:
        asyncio.run(server.serve())
    finally:
        store.close()
    return 0 if server.started else 1


def _report(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
