"""One connection against the fake runtime with hand-written sockets: slow readers, coalescing, 1013."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import orjson
import pytest
from fake_agent import LONG_REPLY
from fake_runtime import KEY, FakeRuntime
from prometheus_client import CollectorRegistry

from gateway.metrics import GatewayMetrics
from gateway.runtime_client import RuntimeClient
from gateway.ws.closes import CLOSE_TRY_AGAIN
from gateway.ws.connection import Connection
from gateway.ws.dialects import V2Dialect
from gateway.ws.frames import Ping, UserMessage
from gateway.ws.outbound import OutboundBuffer
from gateway.ws.sink import TextSink
from service_kit.stream_client import StreamClient


class StuckSocket:
    """A client that never reads: the first send never completes."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_text(self, data: str) -> None:
        self.sent.append(data)
        await asyncio.Event().wait()


class SlowSocket:
    """A client that reads, slowly."""

    def __init__(self, pause: float) -> None:
        self.pause = pause
        self.frames: list[dict[str, object]] = []

    async def send_text(self, data: str) -> None:
        await asyncio.sleep(self.pause)
        self.frames.append(orjson.loads(data))


@pytest.fixture
async def runtime_client(runtime: FakeRuntime) -> AsyncIterator[RuntimeClient]:
    hop = StreamClient(runtime.url)
    yield RuntimeClient(hop, KEY, stream_timeout=10, rest_timeout=10)
    await hop.aclose()


def connection(socket: StuckSocket | SlowSocket, runtime: RuntimeClient, capacity: int, stall: float) -> Connection:
    metrics = GatewayMetrics(CollectorRegistry())
    buffer = OutboundBuffer(capacity, stall)
    return Connection(TextSink(socket), runtime, metrics, buffer, session_id=None, subject=None, dialect=V2Dialect())


async def test_a_reader_that_stops_reading_is_closed_with_1013(
    runtime: FakeRuntime, runtime_client: RuntimeClient
) -> None:
    runtime.agent.delay = 0.005  # a turn that outlasts the stall timeout
    conn = connection(StuckSocket(), runtime_client, capacity=8, stall=0.2)

    conn.handle(UserMessage(type="user_message", content="a long one"))
    closing = await asyncio.wait_for(conn.wait_closing(), 10)
    await conn.stop()
    assert closing.code == CLOSE_TRY_AGAIN
    assert len(conn.buffer) <= 8


async def test_a_slow_reader_gets_coalesced_deltas_with_the_whole_text(runtime_client: RuntimeClient) -> None:
    socket = SlowSocket(pause=0.002)
    conn = connection(socket, runtime_client, capacity=8, stall=5)

    conn.handle(UserMessage(type="user_message", content="a long one"))
    while not socket.frames or socket.frames[-1]["type"] != "done":
        await asyncio.sleep(0.01)
    await conn.stop()
    deltas = [f for f in socket.frames if f.get("is_final") is False]
    assert "".join(str(f["token"]) for f in deltas) == LONG_REPLY
    assert len(deltas) < len(LONG_REPLY.split(" "))  # some were merged
    seqs = [int(str(f["seq"])) for f in socket.frames]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)


async def written(sink: RecordingSink, count: int = 1) -> None:
    while len(sink.writes) < count:
        await asyncio.sleep(0.001)


class RecordingSink:
    """Records every write (one list of payloads per call)."""

    def __init__(self) -> None:
        self.writes: list[list[bytes]] = []

    async def send_frames(self, payloads: Sequence[bytes]) -> None:
        self.writes.append(list(payloads))


async def test_an_idle_connection_starts_no_task_until_it_has_something_to_send(
    runtime_client: RuntimeClient,
) -> None:
    before = len(asyncio.all_tasks())
    sink = RecordingSink()
    metrics = GatewayMetrics(CollectorRegistry())
    conn = Connection(
        sink, runtime_client, metrics, OutboundBuffer(8, 1), session_id=None, subject=None, dialect=V2Dialect()
    )
    await asyncio.sleep(0.01)
    assert len(asyncio.all_tasks()) == before
    conn.handle(Ping(type="ping", nonce="n1"))
    await asyncio.wait_for(written(sink), 5)
    await conn.stop()
    assert orjson.loads(sink.writes[0][0]) == {"type": "pong", "nonce": "n1"}


async def test_frames_waiting_together_go_out_in_one_write_in_order(runtime_client: RuntimeClient) -> None:
    sink = RecordingSink()
    metrics = GatewayMetrics(CollectorRegistry())
    conn = Connection(
        sink, runtime_client, metrics, OutboundBuffer(8, 1), session_id=None, subject=None, dialect=V2Dialect()
    )
    for nonce in ("a", "b", "c"):
        conn.handle(Ping(type="ping", nonce=nonce))
    await asyncio.wait_for(written(sink), 5)
    await conn.stop()
    assert [[orjson.loads(p)["nonce"] for p in write] for write in sink.writes] == [["a", "b", "c"]]
    assert metrics.frames.frames_out == {"pong": 3}
