from typing import Any

import httpx
import pytest
import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from service_kit.middleware import InternalAuthMiddleware, RequestContextMiddleware, public_paths

KEY = "internal-key-0123456789"


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"request_id": structlog.contextvars.get_contextvars().get("request_id")})


def client() -> httpx.AsyncClient:
    app = Starlette(routes=[Route("/health", echo), Route("/private", echo)])
    wrapped = RequestContextMiddleware(InternalAuthMiddleware(app, KEY, public_paths("/health")))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=wrapped), base_url="http://t")


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Internal-Auth": KEY},
        {"Authorization": f"Bearer {KEY}"},
        {"authorization": f"bearer {KEY}"},
        {"x-api-key": KEY},
    ],
)
async def test_the_key_is_accepted_in_any_of_its_headers(headers: dict[str, str]) -> None:
    async with client() as c:
        assert (await c.get("/private", headers=headers)).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Internal-Auth": KEY[:-1]}, {"X-Internal-Auth": KEY + "x"}, {"Authorization": KEY}, {"x-api-key": KEY[1:]}],
)
async def test_a_missing_or_wrong_key_gets_401_in_the_envelope(headers: dict[str, str]) -> None:
    async with client() as c:
        response = await c.get("/private", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert KEY not in response.text


async def test_public_paths_need_no_key() -> None:
    async with client() as c:
        assert (await c.get("/health")).status_code == 200


async def test_a_request_id_is_taken_from_the_caller_bound_to_logs_and_echoed() -> None:
    async with client() as c:
        response = await c.get("/health", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    assert response.json() == {"request_id": "abc-123"}


async def test_an_unusable_request_id_is_replaced() -> None:
    async with client() as c:
        response = await c.get("/health", headers={"X-Request-ID": "x" * 500})
    assert len(response.headers["x-request-id"]) == 32


async def test_an_api_with_its_own_error_shape_gets_its_refusal_body() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("never reached")

    def refusal(path: str) -> bytes | None:
        return b'{"type":"error"}' if path.startswith("/v1/messages") else None

    wrapped = InternalAuthMiddleware(app, KEY, public_paths("/health"), refusal=refusal)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=wrapped), base_url="http://t") as c:
        shaped = await c.post("/v1/messages")
        common = await c.get("/private")
    assert (shaped.status_code, shaped.content) == (401, b'{"type":"error"}')
    assert (common.status_code, common.json()["error"]["code"]) == (401, "unauthorized")
