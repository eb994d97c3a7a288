"""The raw ASGI SSE response: every item sent, the source always closed, a client leaving stops it at once; heartbeats
while it is silent, and an error status as long as nothing was sent."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import Any

from service_kit.asgi import EventStream, send_event_stream, send_json
from service_kit.sse import HEARTBEAT


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


async def until(condition: Any, limit: float = 5.0) -> None:
    """Wait (bounded) until ``condition()`` holds; the loop runs the timers meanwhile."""
    async with asyncio.timeout(limit):
        while not condition():
            await asyncio.sleep(0.005)


def starts(client: FakeClient) -> list[dict[str, Any]]:
    return [m for m in client.sent if m["type"] == "http.response.start"]


async def test_a_silent_stream_sends_heartbeats_the_first_one_with_the_headers():
    client = FakeClient()
    async with EventStream(client.receive, client.send, heartbeat=0.01) as stream:
        await until(lambda: client.body().count(HEARTBEAT) >= 2)
        assert stream.started
        await stream.write(b"data: 1\n\n")
        await stream.end()
    assert [m["status"] for m in starts(client)] == [200]
    assert client.body().endswith(b"data: 1\n\n")
    assert client.sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}


async def test_a_stream_that_writes_gets_no_heartbeat_until_it_falls_silent():
    client = FakeClient()
    async with EventStream(client.receive, client.send, heartbeat=3600) as stream:
        await stream.write(b"data: 1\n\n")
        stream._tick()  # an interval passed, with a write in it
        await asyncio.sleep(0)
        assert client.body() == b"data: 1\n\n"
        stream._tick()  # an interval passed in silence
        await until(lambda: client.body().endswith(HEARTBEAT))
        await stream.end()


async def test_an_error_before_anything_was_sent_is_a_json_answer_with_its_status():
    client = FakeClient()
    async with EventStream(client.receive, client.send, heartbeat=3600) as stream:
        await stream.fail(429, b'{"error":{}}', {"Retry-After": "2"}, event=b"data: {}\n\n")
    assert [m["status"] for m in starts(client)] == [429]
    assert (b"retry-after", b"2") in client.sent[0]["headers"]
    assert client.body() == b'{"error":{}}'


async def test_an_error_after_a_heartbeat_is_the_last_event_of_the_stream():
    client = FakeClient()
    async with EventStream(client.receive, client.send, heartbeat=0.01) as stream:
        await until(lambda: HEARTBEAT in client.body())
        await stream.fail(504, b'{"error":{}}', None, event=b'data: {"error":{}}\n\n')
    assert [m["status"] for m in starts(client)] == [200]
    assert client.body().endswith(b'data: {"error":{}}\n\n')
    assert client.sent[-1]["more_body"] is False


async def test_a_client_leaving_before_the_first_byte_ends_the_wait_normally():
    client = FakeClient()

    async def respond() -> None:
        async with EventStream(client.receive, client.send, heartbeat=0.01):
            await asyncio.Event().wait()  # an upstream that never answers

    responding = asyncio.create_task(respond())
    await until(lambda: HEARTBEAT in client.body())
    client.leave()
    await asyncio.wait_for(responding, 5)
    assert not responding.cancelled()
