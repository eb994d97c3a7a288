"""The raw ASGI SSE response: every item sent, the source always closed, a client leaving stops it at once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import Any

from service_kit.asgi import send_event_stream, send_json


class FakeClient:
    """The ASGI server side: records what is sent; ``leave()`` makes ``receive`` report ``http.disconnect``."""

    def __init__(self, leave_at_end: bool = False) -> None:
        self.sent: list[dict[str, Any]] = []
        self._left = asyncio.Event()
        self._leave_at_end = leave_at_end

    async def receive(self) -> dict[str, Any]:
        await self._left.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)
        if self._leave_at_end and message.get("more_body") is False:
            self.leave()  # as uvicorn does once the response is complete; let the watcher see it
            for _ in range(3):
                await asyncio.sleep(0)

    def leave(self) -> None:
        self._left.set()

    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")


class FakeSource:
    """An event generator that can go silent (like an upstream thinking) and records that it was closed."""

    def __init__(self, items: list[bytes], then_silent: bool = False) -> None:
        self.items = items
        self.then_silent = then_silent
        self.closed = False

    async def events(self) -> AsyncGenerator[bytes, None]:
        try:
            for item in self.items:
                yield item
            if self.then_silent:
                await asyncio.Event().wait()
        finally:
            self.closed = True


async def test_every_event_is_sent_then_the_body_ends_and_the_source_is_closed():
    client, source = FakeClient(), FakeSource([b"data: 1\n\n", b"data: 2\n\n"])
    await send_event_stream(client.receive, client.send, source.events())
    start = client.sent[0]
    assert start["status"] == 200
    assert (b"content-type", b"text/event-stream; charset=utf-8") in start["headers"]
    assert (b"cache-control", b"no-cache") in start["headers"]
    assert client.body() == b"data: 1\n\ndata: 2\n\n"
    assert client.sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert source.closed


async def test_a_client_leaving_while_the_source_is_silent_closes_the_source_and_ends_normally():
    client, source = FakeClient(), FakeSource([b"data: 1\n\n"], then_silent=True)
    responding = asyncio.create_task(send_event_stream(client.receive, client.send, source.events()))
    while not client.body():
        await asyncio.sleep(0)
    client.leave()
    await asyncio.wait_for(responding, 5)  # returns instead of raising CancelledError
    assert source.closed
    assert not responding.cancelled()
    assert client.sent[-1].get("more_body") is True  # no end of body was sent to a client that left


async def test_a_server_cancelling_the_response_still_cancels_it():
    client, source = FakeClient(), FakeSource([], then_silent=True)
    responding = asyncio.create_task(send_event_stream(client.receive, client.send, source.events()))
    await asyncio.sleep(0.01)
    responding.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await responding
    assert responding.cancelled()
    assert source.closed


async def test_a_disconnect_reported_after_the_body_ended_does_not_cancel_the_caller():
    client, source = FakeClient(leave_at_end=True), FakeSource([b"data: 1\n\n"])
    await send_event_stream(client.receive, client.send, source.events())
    await asyncio.sleep(0.01)  # the caller keeps running: nothing cancelled it
    assert client.sent[-1]["more_body"] is False


async def test_a_json_response_carries_its_length_and_extra_headers():
    client = FakeClient()
    await send_json(client.send, 429, b'{"error":{}}', {"Retry-After": "2"})
    headers = client.sent[0]["headers"]
    assert client.sent[0]["status"] == 429
    assert (b"content-length", b"12") in headers
    assert (b"retry-after", b"2") in headers
    assert client.body() == b'{"error":{}}'
