"""One JSON error envelope for every service: ``{"error": {"message", "type", "code", "param"}}``.

It is the OpenAI envelope, so the llm-proxy is compatible with OpenAI clients and the other services need
no second format.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "request_too_large",
    431: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class BodyTooLarge(HTTPException):
    """The request body is over the limit: 413, and the connection closes (the rest of the body is not read)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body exceeds {limit} bytes")
        self.limit = limit
        self.code = "request_too_large"

    def __str__(self) -> str:
        return str(self.detail)


def error_body(
    status: int, message: str, *, type: str | None = None, code: str | None = None, param: str | None = None
) -> bytes:
    """Serialize the envelope; ``type`` defaults from the status."""
    kind = type or _TYPE_BY_STATUS.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return orjson.dumps({"error": {"message": message, "type": kind, "code": code, "param": param}})


def error_response(
    status: int,
    message: str,
    *,
    type: str | None = None,
    code: str | None = None,
    param: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    return Response(
        error_body(status, message, type=type, code=code, param=param),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    """Starlette/FastAPI ``HTTPException`` in the envelope, keeping its status and headers."""
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return error_response(exc.status_code, detail, code=getattr(exc, "code", None), headers=exc.headers)


def validation_message(errors: list[dict[str, object]]) -> tuple[str, str | None]:
    """Turn pydantic errors into one readable line and the first offending parameter."""
    parts = []
    first_param = None
    for error in errors[:5]:
        loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]  # type: ignore[attr-defined]
        where = ".".join(loc)
        first_param = first_param or where or None
        parts.append(f"{where}: {error.get('msg')}" if where else str(error.get("msg")))
    return "; ".join(parts) or "invalid request", first_param


def install_error_handlers(app: Any, *, validation_status: int = 400) -> None:
    """Make every error of a FastAPI app leave in the envelope: HTTP exceptions, request validation, and an
    unexpected exception (a 500 in the envelope, never Starlette's plain-text ``Internal Server Error``)."""
    from fastapi.exceptions import RequestValidationError

    async def on_validation_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        message, param = validation_message(list(exc.errors()))
        return error_response(validation_status, message, param=param)

    async def on_unexpected(_: Request, exc: Exception) -> Response:
        # Starlette's ServerErrorMiddleware answers with this, then re-raises for the server to log the traceback.
        return error_response(500, "internal server error", code="internal_error")

    app.add_exception_handler(HTTPException, http_exception_handler)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(Exception, on_unexpected)
