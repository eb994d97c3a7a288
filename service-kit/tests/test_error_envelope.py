"""Errors a FastAPI app of ours can raise all leave in the one JSON envelope."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from service_kit.errors import install_error_handlers


async def test_an_unexpected_exception_is_a_500_in_the_envelope() -> None:
    """Starlette would answer a plain-text ``Internal Server Error``; the traceback still reaches the server."""
    app = FastAPI()

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    install_error_handlers(app)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        answer = await http.get("/boom")
    assert answer.status_code == 500
    assert answer.json()["error"] == {
        "message": "internal server error",
        "type": "api_error",
        "code": "internal_error",
        "param": None,
    }
