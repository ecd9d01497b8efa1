"""STUB until issue 9's access.py lands (then replaced by it): read endpoints need
``Authorization: Bearer KEY`` with the key in ``RTP_TAG_READ_KEY``."""

from __future__ import annotations

import hmac
import os
from collections.abc import Awaitable, Callable
from functools import wraps

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

Endpoint = Callable[[Request], Awaitable[Response]]


def read_api(endpoint: Endpoint) -> Endpoint:
    @wraps(endpoint)
    async def guarded(request: Request) -> Response:
        key = os.environ.get("RTP_TAG_READ_KEY", "")
        given = request.headers.get("authorization", "")
        if not key or not hmac.compare_digest(given.encode(), f"Bearer {key}".encode()):
            return JSONResponse({"error": "send Authorization: Bearer KEY with a read key"}, status_code=401)
        return await endpoint(request)

    return guarded
