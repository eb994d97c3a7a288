"""The server protocol's batch writer (``gateway.text_frames``): frames of every length encoding, in one write."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

from fake_runtime import KEY
from websockets.asyncio.client import connect

from gateway.server import GatewayServer, server_config
from gateway.settings import Settings
from gateway.ws.sink import TEXT_FRAMES

# 7-bit, 16-bit and 64-bit length encodings and their edges; multi-byte UTF-8 so bytes and characters differ.
PAYLOADS = [b"", b"{}", b"a" * 125, b"b" * 126, b"c" * 127, "é".encode() * 40000, b"d" * 65535, b"e" * 65536]


class BatchApp:
    """Accepts, sends ``batches`` through the extension, then waits for the client to leave; or, with
    ``after_close``, first waits for the client to leave and then tries to send."""

    def __init__(self, batches: list[Sequence[bytes]], *, after_close: bool = False) -> None:
        self.state = SimpleNamespace()  # GatewayServer.shutdown looks for the gateway's context here
        self.batches = batches
        self.after_close = after_close
        self.errors: list[BaseException] = []
        self.done = asyncio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        write = scope["extensions"][TEXT_FRAMES]
        if self.after_close:
            while (await receive())["type"] != "websocket.disconnect":
                pass
        try:
            for batch in self.batches:
                await write(batch)
        except Exception as exc:  # recorded for the test to look at
            self.errors.append(exc)
        self.done.set()
        if not self.after_close:
            while (await receive())["type"] != "websocket.disconnect":
                pass


@asynccontextmanager
async def serving_app(app: BatchApp) -> AsyncIterator[str]:
    settings = Settings(_env_file=None, internal_api_key=KEY, port=0)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = GatewayServer(server_config(app, settings, port=sock.getsockname()[1]), app)  # type: ignore[arg-type]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():  # it could not start: its error (or this one), not a wait until the test's timeout
            task.result()
            raise RuntimeError("the server ended before it started")
        await asyncio.sleep(0.01)
    try:
        yield f"ws://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def test_a_batch_of_frames_of_every_length_encoding_arrives_whole_and_in_order() -> None:
    app = BatchApp([PAYLOADS, [b"after"]])
    async with serving_app(app) as url, connect(url, max_size=None, compression=None) as ws:
        received = [await asyncio.wait_for(ws.recv(), 10) for _ in range(len(PAYLOADS) + 1)]
    assert received == [payload.decode() for payload in [*PAYLOADS, b"after"]]
    assert all(isinstance(frame, str) for frame in received)  # text frames, not binary
    assert app.errors == []


async def test_writing_after_the_client_left_raises_instead_of_writing() -> None:
    app = BatchApp([[b"too late"]], after_close=True)
    async with serving_app(app) as url:
        ws = await connect(url, compression=None)
        await ws.close()
        await asyncio.wait_for(app.done.wait(), 10)
    assert len(app.errors) == 1
    assert type(app.errors[0]).__name__ == "ClientDisconnected"
