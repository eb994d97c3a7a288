"""The short way in for a hot route: same user middleware, same errors, other requests unchanged, still documented."""

from __future__ import annotations

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service_kit.asgi import HotPathApp


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


def client(app: HotPathApp) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://service")


def hot_app(endpoint: ASGIApp) -> HotPathApp:
    app = HotPathApp()
    app.add_hot_route("/hot", endpoint, openapi={"summary": "Hot", "responses": {"200": {"description": "ok"}}})
    return app


async def test_a_post_to_the_hot_path_runs_the_user_middleware_in_order():
    app = hot_app(ok_endpoint)
    app.add_middleware(FakeTagMiddleware, name="inner")
    app.add_middleware(FakeTagMiddleware, name="outer")
    async with client(app) as http:
        response = await http.post("/hot")
    assert response.text == "hot"
    assert response.headers.get_list("x-tag") == ["inner", "outer"]


async def test_an_unexpected_error_on_the_hot_path_is_a_500_in_the_envelope():
    app = hot_app(failing_endpoint)
    async with client(app) as http:
        response = await http.post("/hot")
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "api_error"
    assert "boom" not in response.text


async def test_other_methods_and_paths_take_the_normal_route():
    app = hot_app(failing_endpoint)

    @app.get("/hot")
    async def read() -> dict[str, str]:
        return {"via": "router"}

    async with client(app) as http:
        assert (await http.get("/hot")).json() == {"via": "router"}
        assert (await http.post("/hot/")).status_code != 200


async def test_the_hot_route_is_in_the_openapi_document_with_its_schemas():
    app = HotPathApp()
    operation = {"summary": "Hot", "responses": {"200": {"description": "ok"}}}
    app.add_hot_route("/hot", ok_endpoint, openapi=operation, schemas={"HotBody": {"type": "object"}})
    async with client(app) as http:
        document = (await http.get("/openapi.json")).json()
    assert document["paths"]["/hot"] == {"post": operation}
    assert document["components"]["schemas"]["HotBody"] == {"type": "object"}
