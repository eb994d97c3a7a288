"""The short way in for the completion route: same user middleware, same errors, other requests unchanged."""

from __future__ import annotations

import httpx
import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llm_proxy.proxy_app import ProxyApp
from tests.fakes import chat


class FakeTagMiddleware:
    """Adds ``x-tag: <name>`` to responses, to see which middleware ran and in what order."""

    def __init__(self, app: ASGIApp, name: str) -> None:
        self.app = app
        self.name = name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-tag", self.name.encode())]
            await send(message)

        await self.app(scope, receive, tagged)


async def ok_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"hot"})


async def failing_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("boom")


def client(app: ProxyApp) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://proxy")


async def test_a_post_to_the_hot_path_runs_the_user_middleware_in_order():
    app = ProxyApp(hot_path="/hot", hot_endpoint=ok_endpoint)
    app.add_middleware(FakeTagMiddleware, name="inner")
    app.add_middleware(FakeTagMiddleware, name="outer")
    async with client(app) as http:
        response = await http.post("/hot")
    assert response.text == "hot"
    assert response.headers.get_list("x-tag") == ["inner", "outer"]


async def test_an_unexpected_error_on_the_hot_path_is_a_500_in_the_envelope():
    app = ProxyApp(hot_path="/hot", hot_endpoint=failing_endpoint)
    async with client(app) as http:
        response = await http.post("/hot")
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "api_error"
    assert "boom" not in response.text


async def test_other_methods_and_paths_take_the_normal_route():
    app = ProxyApp(hot_path="/hot", hot_endpoint=failing_endpoint)

    @app.get("/hot")
    async def read() -> dict[str, str]:
        return {"via": "router"}

    async with client(app) as http:
        assert (await http.get("/hot")).json() == {"via": "router"}
        assert (await http.post("/hot/")).status_code != 200


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
async def test_the_completion_route_still_requires_the_internal_key(proxy_client, headers):
    async with proxy_client() as http:
        http.headers.pop("Authorization")
        response = await http.post("/v1/chat/completions", json=chat("hi"), headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


async def test_the_completion_route_echoes_the_request_id_and_refuses_other_methods(proxy_client):
    async with proxy_client() as http:
        answered = await http.post("/v1/chat/completions", json=chat("hi"), headers={"X-Request-ID": "req-42"})
        refused = await http.get("/v1/chat/completions")
    assert answered.status_code == 200
    assert answered.headers["x-request-id"] == "req-42"
    assert refused.status_code == 405
    assert "error" in refused.json()
