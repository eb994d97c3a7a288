"""Hand-written fakes and helpers: a scripted upstream server speaking raw bytes, and SSE/fixture helpers."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

FIXTURES = Path(__file__).parent / "fixtures"


@dataclass
class Reply:
    """One scripted upstream answer: a status, headers, and body pieces written one by one."""

    status: int = 200
    chunks: list[bytes] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "text/event-stream"
    stall_before: bool = False  # never send headers
    stall_after: int | None = None  # stall after this many chunks
    reset_after: int | None = None  # abort the connection after this many chunks
    hold_open: bool = False  # after the chunks, keep the response open until the client leaves


class FakeUpstream:
    """An aiohttp server that plays scripted replies in order (the last one repeats) and records requests."""

    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.choose: Callable[[int], Reply] | None = None  # request number → reply, instead of ``replies``
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.url = ""
        self.client_left = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._released = asyncio.Event()

    def play(self, *replies: Reply) -> None:
        self.replies = list(replies)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.paths.append(request.path)
        self.headers.append(dict(request.headers))
        self.requests.append(orjson.loads(await request.read()))
        number = len(self.requests) - 1
        reply = self.choose(number) if self.choose else self.replies[min(number, len(self.replies) - 1)]
        if reply.stall_before:
            await self._released.wait()
        if reply.status >= 400 and not reply.chunks:
            return web.Response(status=reply.status, headers=reply.headers)
        response = web.StreamResponse(
            status=reply.status, headers={"Content-Type": reply.content_type, **reply.headers}
        )
        await response.prepare(request)
        for index, chunk in enumerate(reply.chunks):
            if reply.reset_after == index:
                assert request.transport is not None
                request.transport.abort()
                return response
            if reply.stall_after == index:
                await self._released.wait()
                return response
            await response.write(chunk)
            await asyncio.sleep(0)  # let each piece leave as its own write
        if reply.hold_open:
            while request.transport is not None and not request.transport.is_closing():
                await asyncio.sleep(0.01)
            self.client_left.set()
            return response
        await response.write_eof()
        return response

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        await web.SockSite(self._runner, sock).start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"

    async def stop(self) -> None:
        self._released.set()
        if self._runner is not None:
            await self._runner.cleanup()


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def split_every(data: bytes, sizes: tuple[int, ...] = (7, 3, 11, 1, 5)) -> list[bytes]:
    """Cut ``data`` into pieces of cycling sizes: lines, JSON strings and UTF-8 sequences end up split."""
    pieces, start, i = [], 0, 0
    while start < len(data):
        end = start + sizes[i % len(sizes)]
        pieces.append(data[start:end])
        start, i = end, i + 1
    return pieces


def sse_events(text: str) -> list[bytes]:
    """The ``data:`` payloads of an SSE body, in order."""
    return [line[6:].encode() for line in text.split("\n") if line.startswith("data: ")]


def typed_sse_events(text: str) -> list[dict[str, Any]]:
    """The events of an SSE body whose events are typed (Anthropic, Responses API), checking that each ``event:``
    line names the ``type`` of its ``data:``."""
    out = []
    for block in text.split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if not lines:
            continue
        assert lines[0].startswith("event: "), block
        assert lines[1].startswith("data: "), block
        data = orjson.loads(lines[1][6:])
        assert data["type"] == lines[0][7:]
        out.append(data)
    return out


def chat(content: str, **extra: Any) -> dict[str, Any]:
    return {"model": "mock", "messages": [{"role": "user", "content": content}], **extra}
