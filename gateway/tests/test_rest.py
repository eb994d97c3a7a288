"""The REST facade: one forwarding path that keeps method, query, body and status; upstream trouble → 502/503/504."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import httpx
import orjson
import pytest
from fake_runtime import FakeRuntime

from conftest import RunningGateway, make_settings, serving
from gateway.app import create_app


async def test_method_query_body_and_status_are_passed_through(gateway: RunningGateway, runtime: FakeRuntime) -> None:
    async with gateway.client() as http:
        answer = await http.post("/api/v1/events/audit-log?session_id=s1&limit=5", content=b'{"x": 1}')
        stats = await http.get("/api/v1/events/stats")
    assert answer.status_code == 202
    assert answer.json() == {
        "method": "POST",
        "path": "/events/audit-log",
        "query": "session_id=s1&limit=5",
        "body": '{"x": 1}',
    }
    assert stats.json()["path"] == "/events/stats"


async def test_the_session_lifecycle_is_forwarded_with_flat_sessions(gateway: RunningGateway) -> None:
    async with gateway.client() as http:
        created = (await http.post("/api/v1/sessions")).json()
        renamed = await http.patch(f"/api/v1/sessions/{created['id']}", json={"title": "Login work"})
        listed = (await http.get("/api/v1/sessions")).json()
        deleted = await http.delete(f"/api/v1/sessions/{created['id']}")
        gone = await http.get(f"/api/v1/sessions/{created['id']}")
        again = await http.delete(f"/api/v1/sessions/{created['id']}")
    assert renamed.json()["title"] == "Login work"
    assert "session" not in renamed.json()  # flat, never wrapped
    assert [s["id"] for s in listed["sessions"]] == [created["id"]]
    assert deleted.status_code == 204
    assert gone.status_code == again.status_code == 404
    assert gone.json()["error"]["code"] == "not_found"


async def test_agents_and_switch_are_forwarded(gateway: RunningGateway) -> None:
    async with gateway.client() as http:
        agents = await http.get("/api/v1/agents")
        switched = await http.post("/api/v1/agents/coder/switch", json={"session_id": "s"})
    assert [a["id"] for a in agents.json()["agents"]] == ["coder", "ask"]
    assert switched.json() == {"switched_to": "coder"}


async def test_both_health_paths_answer_without_the_runtime(runtime: FakeRuntime) -> None:
    app = create_app(make_settings("http://127.0.0.1:9"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            assert (await http.get("/health")).status_code == 200
            assert (await http.get("/api/v1/health")).json()["service"] == "gateway"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_runtime_that_is_down_gives_503_in_the_error_envelope() -> None:
    async with serving(make_settings(f"http://127.0.0.1:{_closed_port()}")) as gateway, gateway.client() as http:
        answer = await http.get("/api/v1/sessions")
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "upstream_unavailable"


async def test_a_slow_runtime_gives_504(runtime: FakeRuntime) -> None:
    async with serving(make_settings(runtime.url, agent_rest_timeout=0.3)) as gateway, gateway.client() as http:
        answer = await http.get("/api/v1/agents/slow")
    assert answer.status_code == 504
    assert answer.json()["error"]["type"] == "api_error"


async def test_a_runtime_that_drops_the_connection_gives_502(gateway: RunningGateway) -> None:
    async with gateway.client() as http:
        answer = await http.get("/api/v1/agents/broken")
    assert answer.status_code == 502


async def test_paths_outside_the_facade_are_not_forwarded(gateway: RunningGateway, runtime: FakeRuntime) -> None:
    async with gateway.client() as http:
        answer = await http.get("/api/v1/agent/message/stream")
    assert answer.status_code == 404
    assert runtime.forwarded == []


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/sessions/../agent/message/stream",
        "/api/v1/sessions/%2e%2e/agent/message/stream",
        "/api/v1/events/%2E/x",
    ],
)
async def test_dot_segments_cannot_walk_out_of_the_facade(
    gateway: RunningGateway, runtime: FakeRuntime, path: str
) -> None:
    # HTTP clients normalise dot segments themselves: send the request line raw.
    port = int(gateway.http_url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"POST {path} HTTP/1.1\r\nHost: gw\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
    status_line = await reader.readline()
    writer.close()
    assert status_line.split()[1] == b"400"
    assert runtime.received == []
    assert runtime.forwarded == []


async def test_percent_encoded_ids_are_forwarded_without_re_encoding(
    gateway: RunningGateway, runtime: FakeRuntime
) -> None:
    async with gateway.client() as http:
        answer = await http.get("/api/v1/events/a%20b%2Fc?q=1%202")
    assert answer.json()["query"] == "q=1%202"
    assert runtime.forwarded[0]["path"] == "/events/a b/c"


async def test_the_openapi_document_lists_the_facade(gateway: RunningGateway) -> None:
    async with gateway.client() as http:
        paths = (await http.get("/openapi.json")).json()["paths"]
    assert set(paths["/api/v1/sessions/{rest}"]) == {"get", "post", "put", "patch", "delete"}


async def test_a_chunked_body_over_the_limit_is_cut_while_it_arrives(
    gateway: RunningGateway, runtime: FakeRuntime
) -> None:
    """300 MB sent chunked: 413 in the envelope after about the 1 MiB limit, and nothing reaches the runtime."""
    port = int(gateway.http_url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /api/v1/sessions HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
    answered = asyncio.create_task(reader.read(65536))
    sent = 0
    with contextlib.suppress(ConnectionError):
        while sent < 300 * 1024 * 1024 and not answered.done():
            writer.write(b"10000\r\n" + b"x" * 65536 + b"\r\n")
            await writer.drain()
            sent += 65536
            await asyncio.sleep(0.001)
    head, _, body = (await asyncio.wait_for(answered, 10)).partition(b"\r\n\r\n")
    writer.close()
    assert head.startswith(b"HTTP/1.1 413")
    assert orjson.loads(body)["error"]["message"] == "the request body exceeds 1048576 bytes"
    assert sent < 4 * 1024 * 1024
    assert runtime.forwarded == []


async def test_the_event_stream_is_relayed_live_and_released_when_the_client_leaves(
    gateway: RunningGateway, runtime: FakeRuntime
) -> None:
    session = runtime.create_session(None)
    session.publish({"type": "assistant_message", "content": "logged"}, run=1)
    async with (
        gateway.client() as http,
        http.stream("GET", f"/api/v1/sessions/{session.id}/events", headers={"Last-Event-ID": "0"}) as answer,
    ):
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        lines = answer.aiter_lines()
        logged = [await anext(lines) for _ in range(2)]
        assert logged[0] == "id: 1"
        session.publish({"type": "assistant_message", "content": "live"}, run=1)
        block = [await asyncio.wait_for(anext(lines), 5) for _ in range(3)]
        assert block[1] == "id: 2"
        assert orjson.loads(block[2].removeprefix("data: "))["content"] == "live"
    async with asyncio.timeout(5):  # the runtime's follower goes with the client
        while session.subscribers:
            await asyncio.sleep(0.01)


async def test_the_event_stream_of_an_unknown_session_is_404_in_the_envelope(gateway: RunningGateway) -> None:
    async with gateway.client() as http:
        answer = await http.get("/api/v1/sessions/nope/events?after=0")
    assert answer.status_code == 404
    assert answer.json()["error"]["type"] == "not_found_error"
