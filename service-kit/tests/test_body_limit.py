"""The body limit, cut while the body arrives, over raw sockets against a real uvicorn server: a FastAPI route that
parses its body, a route that reads it itself, and both a declared and a chunked body."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import orjson
import pytest
from fastapi import FastAPI, Request
from pydantic import BaseModel
from served import running

from service_kit.errors import install_error_handlers
from service_kit.middleware import BodyLimitMiddleware

LIMIT = 64 * 1024


class Note(BaseModel):
    text: str


def service() -> FastAPI:
    app = FastAPI()

    @app.post("/parsed")
    async def parsed(note: Note) -> dict[str, int]:
        return {"length": len(note.text)}

    @app.post("/raw")
    async def raw(request: Request) -> dict[str, int]:
        return {"length": len(await request.body())}

    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, limit=LIMIT)
    return app


@pytest.fixture
async def port() -> AsyncIterator[int]:
    async with running(service()) as port:
        yield port


def answer_of(raw: bytes) -> tuple[int, bytes, dict[str, object]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), head.lower(), orjson.loads(body)


async def send_chunked(port: int, path: str, total: int) -> tuple[bytes, int]:
    """POST a chunked body of ``total`` bytes in 64 KiB chunks, reading the answer meanwhile as a client on a network
    does; returns the answer and how many body bytes went out before it came (or the connection closed)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n".encode())
    writer.write(b"Transfer-Encoding: chunked\r\n\r\n")
    answered = asyncio.create_task(reader.read(65536))
    chunk = b"10000\r\n" + b'"' * 65536 + b"\r\n"
    sent = 0
    with contextlib.suppress(ConnectionError):
        while sent < total and not answered.done():
            writer.write(chunk)
            await writer.drain()
            sent += 65536
            await asyncio.sleep(0.001)
    answer = await asyncio.wait_for(answered, 10)
    writer.close()
    return answer, sent


@pytest.mark.parametrize("path", ["/parsed", "/raw"])
async def test_a_chunked_body_of_300_mb_is_cut_at_the_limit(port: int, path: str) -> None:
    answer, sent = await send_chunked(port, path, 300 * 1024 * 1024)
    status, head, body = answer_of(answer)
    assert (status, body["error"]["type"]) == (413, "request_too_large")  # type: ignore[index]
    assert f"exceeds {LIMIT} bytes" in body["error"]["message"]  # type: ignore[index]
    assert b"connection: close" in head
    assert sent < 4 * 1024 * 1024, f"{sent} bytes of body went out before the 413"


@pytest.mark.parametrize(
    ("length", "status"),
    [(str(LIMIT + 1).encode(), 413), (b"9" * 19, 413), (b"9" * 5000, 400)],  # 5000 digits: the parser refuses it
)
async def test_a_declared_length_over_the_limit_is_refused_before_the_body(
    port: int, length: bytes, status: int
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /parsed HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: " + length)
    writer.write(b"\r\n\r\n")  # and no body at all: the answer must not wait for it
    answer = await asyncio.wait_for(reader.read(65536), 10)
    writer.close()
    assert answer_of(answer)[0] == status  # with the JSON envelope: answer_of parses it


async def test_a_body_within_the_limit_is_served(port: int) -> None:
    text = "x" * (LIMIT - 100)
    body = orjson.dumps({"text": text})
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /parsed HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n")
    writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    answer = await asyncio.wait_for(reader.read(65536), 10)
    writer.close()
    assert answer_of(answer)[::2] == (200, {"length": len(text)})
