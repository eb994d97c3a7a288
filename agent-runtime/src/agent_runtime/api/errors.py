"""Domain errors to HTTP, in one place: 404, 409, 403, 422, all in the JSON error envelope."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from agent_runtime.domain.errors import Conflict, DomainError, Forbidden, NotFound, RuleViolation
from service_kit.errors import error_response

_STATUS: dict[type[DomainError], int] = {NotFound: 404, Conflict: 409, Forbidden: 403, RuleViolation: 422}


def domain_status(exc: DomainError) -> int:
    return next((code for kind, code in _STATUS.items() if isinstance(exc, kind)), 400)


async def domain_error_handler(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return error_response(domain_status(exc), exc.message, code=exc.code)


def install_domain_errors(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, domain_error_handler)
