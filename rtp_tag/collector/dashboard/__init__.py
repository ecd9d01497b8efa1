"""The dashboard at ``/dashboard/``: static files served by the collector, under a strict CSP.

The page holds no data: it asks for the read key once (kept in the tab's
``sessionStorage``), then reads ``/api/report``, ``/api/report.csv`` and
``/api/events`` with it as a Bearer header. ``form-action 'none'`` guarantees
the key can never be submitted into a URL, even if the script failed to load.
"""

from __future__ import annotations

from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).with_name("static")
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class DashboardFiles(StaticFiles):
    """``static/`` with the dashboard's security headers on every answer."""

    def __init__(self) -> None:
        super().__init__(directory=STATIC, html=True)

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-cache"
        return response
