"""v2 resume: disconnect at random points of a streaming turn, reconnect with ``resume{last_seq}``.

The client keeps what a real v2 client keeps (its last seq and the text so far) and must end with the reply's
exact text, no seq twice, seqs increasing, and exactly one ``done``.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from fake_agent import LONG_REPLY
from websockets.asyncio.client import ClientConnection, connect

from conftest import RunningGateway


@dataclass
class Transcript:
    """What a v2 client remembers across its connections."""

    session_id: str | None = None
    last_seq: int = 0
    seqs: list[int] = field(default_factory=list)
    text: str = ""
    final: str | None = None
    dones: int = 0

    def take(self, frame: dict[str, Any]) -> None:
        assert "seq" in frame, f"a session frame without seq: {frame}"
        self.seqs.append(frame["seq"])
        self.last_seq = frame["seq"]
        if frame["type"] == "session_info":
            self.session_id = frame["session_id"]
        elif frame["type"] == "assistant_message" and frame["is_final"] is False:
            self.text += frame["token"]
        elif frame["type"] == "assistant_message":
            self.final = frame["content"]
        elif frame["type"] == "done":
            self.dones += 1


async def read_frames(ws: ClientConnection, transcript: Transcript, limit: int) -> None:
    """Read up to ``limit`` frames (or until done)."""
    for _ in range(limit):
        frame = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        transcript.take(frame)
        if frame["type"] == "done":
            return


def drop(ws: ClientConnection) -> None:
    """A hard disconnect: no close frame, as when a laptop lid closes."""
    assert ws.transport is not None
    ws.transport.abort()


async def one_turn_with_disconnects(gateway: RunningGateway, rng: random.Random) -> Transcript:
    transcript = Transcript()
    ws = await connect(gateway.ws(f"/api/v1/ws/new_{rng.random()}?protocol=2"))
    await ws.send('{"type":"user_message","content":"tell it long"}')
    await read_frames(ws, transcript, 1 + rng.randrange(60))
    for _ in range(rng.randint(1, 3)):
        if transcript.dones:
            break
        drop(ws)
        if rng.random() < 0.3:
            await asyncio.sleep(rng.random() * 0.05)  # the turn runs on while nobody listens
        ws = await connect(gateway.ws(f"/api/v1/ws/{transcript.session_id}?protocol=2"))
        await ws.send(orjson.dumps({"type": "resume", "last_seq": transcript.last_seq}).decode())
        await read_frames(ws, transcript, 1 + rng.randrange(60))
    if not transcript.dones:
        await read_frames(ws, transcript, 10_000)
    await ws.close()
    return transcript


@pytest.mark.parametrize("seed", range(12))
async def test_resume_after_random_disconnects_yields_the_exact_reply_once(
    slow_gateway: RunningGateway, seed: int
) -> None:
    transcript = await one_turn_with_disconnects(slow_gateway, random.Random(seed))
    assert transcript.text == LONG_REPLY
    assert transcript.final == LONG_REPLY
    assert transcript.dones == 1
    assert len(set(transcript.seqs)) == len(transcript.seqs), "a frame was sent twice"
    assert transcript.seqs == sorted(transcript.seqs)


async def test_resume_after_the_turn_ended_replays_nothing_already_seen(slow_gateway: RunningGateway) -> None:
    transcript = Transcript()
    async with connect(slow_gateway.ws("/ws/new_x?protocol=2")) as ws:
        await ws.send('{"type":"user_message","content":"short"}')
        await read_frames(ws, transcript, 10_000)
    async with connect(slow_gateway.ws(f"/ws/{transcript.session_id}?protocol=2")) as ws:
        await ws.send(orjson.dumps({"type": "resume", "last_seq": transcript.last_seq}).decode())
        await ws.send('{"type":"ping","nonce":1}')
        # Nothing after last_seq exists: the next frame is the pong.
        assert orjson.loads(await asyncio.wait_for(ws.recv(), 10)) == {"type": "pong", "nonce": 1}
        await ws.send('{"type":"user_message","content":"more"}')
        await read_frames(ws, transcript, 10_000)
    assert transcript.final == "Echo: more"
    assert len(set(transcript.seqs)) == len(transcript.seqs)


async def test_resume_from_zero_replays_the_durable_log_without_token_deltas(slow_gateway: RunningGateway) -> None:
    first = Transcript()
    async with connect(slow_gateway.ws("/ws/new_y?protocol=2")) as ws:
        await ws.send('{"type":"user_message","content":"hello there"}')
        await read_frames(ws, first, 10_000)
    replay = Transcript()
    async with connect(slow_gateway.ws(f"/ws/{first.session_id}?protocol=2")) as ws:
        await ws.send('{"type":"resume","last_seq":0}')
        await read_frames(ws, replay, 10_000)
    assert replay.final == first.final == "Echo: hello there"
    assert replay.text == ""  # deltas of a finished turn were folded into the final message
    assert set(replay.seqs) <= set(first.seqs)


async def test_two_clients_following_one_turn_each_get_it_once(slow_gateway: RunningGateway) -> None:
    writer, watcher = Transcript(), Transcript()
    async with connect(slow_gateway.ws("/ws/new_z?protocol=2")) as ws:
        await ws.send('{"type":"user_message","content":"long please"}')
        await read_frames(ws, writer, 1)
        async with connect(slow_gateway.ws(f"/ws/{writer.session_id}?protocol=2")) as other:
            await other.send('{"type":"resume","last_seq":0}')
            await asyncio.gather(read_frames(ws, writer, 10_000), read_frames(other, watcher, 10_000))
    for transcript in (writer, watcher):
        assert transcript.final == LONG_REPLY
        assert transcript.dones == 1
        assert len(set(transcript.seqs)) == len(transcript.seqs)
    assert writer.text == LONG_REPLY
