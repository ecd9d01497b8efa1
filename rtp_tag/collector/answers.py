"""The JSON answers every endpoint shares."""

from __future__ import annotations

from starlette.responses import JSONResponse


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """A 4xx/5xx answer whose ``{"error": ...}`` says what was wrong and what to do."""
    return JSONResponse({"error": message}, status_code=status, headers=headers)
