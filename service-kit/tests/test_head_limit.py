"""The request-head limit, over raw sockets against a real uvicorn server run with the services' own options."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import orjson
import pytest
from served import running
from starlette.types import Receive, Scope, Send

LIMIT = 16 * 1024


class Recorder:
    """An app that answers 200 and remembers the paths it saw (a refused head must never reach it)."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.paths.append(scope["path"])
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1000})
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
async def server() -> AsyncIterator[tuple[int, Recorder]]:
    app = Recorder()
    async with running(app, max_header_bytes=LIMIT) as port:
        yield port, app


async def exchange(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(65536), 10)
    writer.close()
    return answer


def head(extra: bytes, *, path: bytes = b"/x") -> bytes:
    return b"GET " + path + b" HTTP/1.1\r\nHost: t\r\n" + extra + b"\r\n"


def status_and_error(answer: bytes) -> tuple[int, dict[str, object]]:
    start, _, body = answer.partition(b"\r\n\r\n")
    return int(start.split(b" ")[1]), orjson.loads(body)["error"] if body else {}


async def test_a_head_within_the_limit_is_served(server: tuple[int, Recorder]) -> None:
    port, app = server
    answer = await exchange(port, head(b"Authorization: Bearer " + b"a" * (LIMIT - 200) + b"\r\n"))
    assert answer.startswith(b"HTTP/1.1 200")
    assert app.paths == ["/x"]


@pytest.mark.parametrize("path", [b"/x", b"/" + b"p" * (LIMIT + 1)])
async def test_a_head_over_the_limit_in_one_read_is_refused_with_431(server: tuple[int, Recorder], path: bytes) -> None:
    port, app = server
    answer = await exchange(port, head(b"Authorization: Bearer " + b"a" * LIMIT + b"\r\n", path=path))
    status, error = status_and_error(answer)
    assert (status, error["code"], error["type"]) == (431, "request_headers_too_large", "request_too_large")
    assert b"connection: close" in answer.lower()
    assert app.paths == []


async def test_a_huge_header_sent_slowly_is_cut_at_the_limit(server: tuple[int, Recorder]) -> None:
    """A 100 MB Authorization header, written in 64 KiB pieces: the server answers 431 and closes after little more
    than the limit, long before the 100 MB are sent, and the app never sees it."""
    port, app = server
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /x HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ")
    answered = asyncio.create_task(reader.read(65536))
    piece = b"a" * 65536
    sent = 0
    with contextlib.suppress(ConnectionError):
        while sent < 100 * 1024 * 1024 and not answered.done():
            writer.write(piece)
            await writer.drain()
            sent += len(piece)
            await asyncio.sleep(0.001)  # a client on a network, not a loop that starves the server
    answer = await asyncio.wait_for(answered, 10)
    writer.close()
    assert status_and_error(answer)[0] == 431
    assert sent < 2 * 1024 * 1024, f"{sent} bytes went out before the server cut the head"
    assert app.paths == []


async def test_a_websocket_handshake_with_a_huge_head_is_refused(server: tuple[int, Recorder]) -> None:
    port, app = server
    upgrade = (
        b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nCookie: " + b"c" * LIMIT + b"\r\n"
    )
    answer = await exchange(port, head(upgrade, path=b"/ws"))
    assert status_and_error(answer)[0] == 431
    assert app.paths == []


async def test_requests_on_one_connection_are_measured_each_on_its_own(server: tuple[int, Recorder]) -> None:
    """Two pipelined requests whose heads together pass the limit: each is within it, both are served."""
    port, app = server
    one = head(b"X-Pad: " + b"a" * (LIMIT * 3 // 4) + b"\r\n")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(one + one)
    await writer.drain()
    answers = b""
    while answers.count(b"HTTP/1.1 200") < 2:
        answers += await asyncio.wait_for(reader.read(65536), 10)
    writer.close()
    assert app.paths == ["/x", "/x"]
