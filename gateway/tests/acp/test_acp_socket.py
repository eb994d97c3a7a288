"""/acp and /acp/ws over the real server stack against the fake runtime, with a raw WebSocket client: framing,
the JSON-RPC errors (the connection stays usable after each), admission and auth, limits."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from fake_runtime import FakeRuntime
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from conftest import RunningGateway, make_settings, serving

TOKEN = "tok-acp-0123456789abcdef"


class RawAcp:
    """A hand-written JSON-RPC peer, to send what no SDK would."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.notifications: list[dict[str, Any]] = []
        self._ids = 0

    async def send(self, message: Any) -> None:
        await self.ws.send(message if isinstance(message, str) else orjson.dumps(message).decode())

    async def next(self) -> dict[str, Any]:
        """The next response (notifications are kept aside)."""
        while True:
            message = orjson.loads(await asyncio.wait_for(self.ws.recv(), 10))
            if "method" in message and "id" not in message:
                self.notifications.append(message)
                continue
            return message  # type: ignore[no-any-return]

    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self._ids += 1
        await self.send({"jsonrpc": "2.0", "id": self._ids, "method": method, "params": params or {}})
        answer = await self.next()
        assert answer["id"] == self._ids
        return answer

    async def initialize(self) -> dict[str, Any]:
        answer = await self.call("initialize", {"protocolVersion": 1, "clientCapabilities": {}})
        return answer["result"]  # type: ignore[no-any-return]


@contextlib.asynccontextmanager
async def raw(gateway: RunningGateway, path: str = "/acp", **kwargs: Any) -> AsyncIterator[RawAcp]:
    async with connect(gateway.ws(path), **kwargs) as ws:
        yield RawAcp(ws)


@pytest.fixture
async def token_gateway(runtime: FakeRuntime) -> AsyncIterator[RunningGateway]:
    settings = make_settings(runtime.url, auth_mode="token", auth_tokens=f"ada:{TOKEN}", ws_max_frame_bytes=4096)
    async with serving(settings) as running:
        yield running


@pytest.mark.parametrize("path", ["/acp", "/acp/ws"])
async def test_both_paths_answer_initialize_and_name_the_connection(gateway: RunningGateway, path: str) -> None:
    async with connect(gateway.ws(path)) as ws:
        assert ws.response is not None
        connection_id = ws.response.headers.get("Acp-Connection-Id")
        assert connection_id is not None
        assert len(connection_id) >= 16
        result = await RawAcp(ws).initialize()
    assert result["protocolVersion"] == 1
    assert result["agentCapabilities"]["loadSession"] is True
    prompts = result["agentCapabilities"]["promptCapabilities"]
    assert prompts == {"image": False, "audio": False, "embeddedContext": True}
    assert result["authMethods"] == []  # auth mode none: nothing to authenticate
    assert result["agentInfo"]["name"] == "codelab"


async def test_every_malformed_message_gets_its_error_and_the_connection_stays(gateway: RunningGateway) -> None:
    async with raw(gateway) as peer:
        await peer.send("{not json")
        assert (await peer.next())["error"]["code"] == -32700
        await peer.send('[{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":1}}]')
        answer = await peer.next()
        assert (answer["id"], answer["error"]["code"]) == (None, -32600)
        early = {"jsonrpc": "2.0", "id": "early", "method": "session/new", "params": {"cwd": "/", "mcpServers": []}}
        await peer.send(early)
        answer = await peer.next()
        assert (answer["id"], answer["error"]["code"]) == ("early", -32600)
        assert "initialize" in answer["error"]["message"]
        await peer.initialize()
        answer = await peer.call("initialize", {"protocolVersion": 1})
        assert answer["error"]["code"] == -32600
        await peer.send({"jsonrpc": "2.0", "id": "abc", "method": "session/dance", "params": {}})
        answer = await peer.next()
        assert answer == {
            "jsonrpc": "2.0",
            "id": "abc",
            "error": {"code": -32601, "message": "method not found: session/dance"},
        }
        answer = await peer.call("session/new", {"mcpServers": []})
        assert answer["error"]["code"] == -32602
        assert "cwd" in answer["error"]["message"]
        answer = await peer.call("session/new", {"cwd": "relative/dir", "mcpServers": []})
        assert answer["error"]["code"] == -32602
        assert "absolute" in answer["error"]["message"]
        answer = await peer.call("session/prompt", {"sessionId": "nope", "prompt": [{"type": "text", "text": "hi"}]})
        assert answer["error"]["code"] == -32002
        await peer.send({"jsonrpc": "2.0", "method": "_unknown/notification", "params": {}})  # ignored, no answer
        await peer.ws.send(b"\x00binary")  # ignored, as the transport RFD says
        answer = await peer.call("session/new", {"cwd": "/tmp/project", "mcpServers": []})
        assert answer["result"]["sessionId"]
        modes = answer["result"]["modes"]["availableModes"]
        assert modes == [{"id": "coder", "name": "Coder"}, {"id": "ask", "name": "Ask"}]


async def test_a_prompt_streams_text_and_ends_the_turn(gateway: RunningGateway) -> None:
    async with raw(gateway) as peer:
        await peer.initialize()
        session = (await peer.call("session/new", {"cwd": "/tmp/p", "mcpServers": []}))["result"]["sessionId"]
        prompt = [{"type": "text", "text": "hi there"}]
        answer = await peer.call("session/prompt", {"sessionId": session, "prompt": prompt})
    assert answer["result"] == {"stopReason": "end_turn"}
    chunks = [n["params"]["update"] for n in peer.notifications if n["method"] == "session/update"]
    assert all(n["params"]["sessionId"] == session for n in peer.notifications)
    assert "".join(c["content"]["text"] for c in chunks if c["sessionUpdate"] == "agent_message_chunk") == (
        "Echo: hi there"
    )


async def test_images_are_refused_with_invalid_params(gateway: RunningGateway) -> None:
    async with raw(gateway) as peer:
        await peer.initialize()
        session = (await peer.call("session/new", {"cwd": "/tmp/p", "mcpServers": []}))["result"]["sessionId"]
        image = {"type": "image", "data": "aGk=", "mimeType": "image/png"}
        answer = await peer.call("session/prompt", {"sessionId": session, "prompt": [image]})
    assert answer["error"]["code"] == -32602
    assert "image" in answer["error"]["message"]


async def test_plain_http_on_the_endpoint_says_to_use_the_websocket(gateway: RunningGateway) -> None:
    async with httpx.AsyncClient(base_url=gateway.http_url, timeout=10) as http:
        answer = await http.post("/acp", json={"jsonrpc": "2.0", "id": 1, "method": "initialize"})
    assert answer.status_code == 426
    assert answer.headers["upgrade"] == "websocket"
    assert "WebSocket" in answer.json()["error"]["message"]


async def test_without_credentials_only_authenticate_opens_the_connection(token_gateway: RunningGateway) -> None:
    async with raw(token_gateway) as peer:
        result = await peer.initialize()
        assert [m["id"] for m in result["authMethods"]] == ["bearer"]
        answer = await peer.call("session/new", {"cwd": "/tmp/p", "mcpServers": []})
        assert answer["error"]["code"] == -32000
        answer = await peer.call("authenticate", {"methodId": "bearer", "_meta": {"token": "wrong-token-000000"}})
        assert answer["error"]["code"] == -32000
        answer = await peer.call("authenticate", {"methodId": "password"})
        assert answer["error"]["code"] == -32602
        answer = await peer.call("authenticate", {"methodId": "bearer", "_meta": {"token": TOKEN}})
        assert answer["result"] == {}
        answer = await peer.call("session/new", {"cwd": "/tmp/p", "mcpServers": []})
        assert answer["result"]["sessionId"]


async def test_a_bearer_header_or_subprotocol_authenticates_the_upgrade(token_gateway: RunningGateway) -> None:
    async with raw(token_gateway, additional_headers={"Authorization": f"Bearer {TOKEN}"}) as peer:
        assert (await peer.initialize())["authMethods"] == []
        assert "result" in await peer.call("session/new", {"cwd": "/tmp/p", "mcpServers": []})
    protocols = [Subprotocol("bearer"), Subprotocol(TOKEN)]
    async with raw(token_gateway, subprotocols=protocols) as peer:
        assert peer.ws.subprotocol == "bearer"
        assert (await peer.initialize())["authMethods"] == []


async def test_a_wrong_credential_on_the_upgrade_closes_with_1008(token_gateway: RunningGateway) -> None:
    async with raw(token_gateway, additional_headers={"Authorization": "Bearer not-the-token-0000"}) as peer:
        with pytest.raises(ConnectionClosed):
            await peer.initialize()
        assert peer.ws.close_code == 1008
        assert peer.ws.close_reason == "invalid credentials"


async def test_a_frame_over_the_limit_closes_with_1009(token_gateway: RunningGateway) -> None:
    async with raw(token_gateway) as peer:
        await peer.send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"pad": "x" * 5000}})
        with pytest.raises(ConnectionClosed):
            await peer.next()
        assert peer.ws.close_code == 1009


async def test_a_foreign_origin_is_refused_with_1008(token_gateway: RunningGateway) -> None:
    async with raw(token_gateway, origin="https://evil.example") as peer:  # type: ignore[arg-type]
        with pytest.raises(ConnectionClosed):
            await peer.initialize()
        assert (peer.ws.close_code, peer.ws.close_reason) == (1008, "origin not allowed")


async def test_a_flood_closes_with_1008(runtime: FakeRuntime) -> None:
    settings = make_settings(runtime.url, ws_rate_per_second=1, ws_rate_burst=5)
    async with serving(settings) as gateway, raw(gateway) as peer:
        with contextlib.suppress(ConnectionClosed):  # the close may come while we still send
            for n in range(50):
                await peer.send({"jsonrpc": "2.0", "method": "_noise", "params": {"n": n}})
        with pytest.raises(ConnectionClosed):
            await peer.next()
        assert (peer.ws.close_code, peer.ws.close_reason) == (1008, "too many frames")
