"""One measured stream per target kind: what the load client and the soak run drive.

A ``StreamRecord`` holds the send time, every content token's arrival time (CLOCK_MONOTONIC ns, comparable with
the emit time the fake writes into each token), errors and whether the stream ended normally. Content frames
are: OpenAI chunks with non-empty ``delta.content``; runtime/gateway ``assistant_message`` deltas (``token``);
for the v1 WebSocket dialect, which has no deltas, the final ``assistant_message``; ACP ``agent_message_chunk``
updates.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from stats import parse_tokens
from websockets.asyncio.client import ClientConnection


@dataclass
class StreamRecord:
    stream: int
    request: int = 0
    send_ns: int = 0
    first_ns: int = 0
    end_ns: int = 0
    arrivals: list[int] = field(default_factory=list)
    emits: list[int] = field(default_factory=list)
    frames: int = 0
    errors: list[str] = field(default_factory=list)
    completed: bool = False

    def content(self, now: int, text: str | None, whole: bool = False) -> None:
        """A content frame; a delta may carry several tokens when a hop coalesced them under backpressure."""
        if not self.first_ns:
            self.first_ns = now
        found = parse_tokens(text) if text else []
        if whole or not found:
            # a v1 final message carries every token: it counts once, with the last token's latency
            self.arrivals.append(now)
            self.emits.append(found[-1][1] if found else 0)
            return
        for _, emit in found:
            self.arrivals.append(now)
            self.emits.append(emit)

    def as_json(self) -> dict[str, Any]:
        return self.__dict__


def _events(buffer: bytearray) -> list[bytes]:
    """Complete SSE events from ``buffer`` (consumed); ``\\r\\n`` is not expected on these services."""
    out: list[bytes] = []
    while True:
        end = buffer.find(b"\n\n")
        if end < 0:
            return out
        out.append(bytes(buffer[:end]))
        del buffer[: end + 2]


def _data(event: bytes) -> bytes | None:
    parts = [line[5:].lstrip() for line in event.split(b"\n") if line.startswith(b"data:")]
    return b"\n".join(parts) if parts else None


async def _sse_events(response: aiohttp.ClientResponse, record: StreamRecord) -> Any:
    buffer = bytearray()
    async for piece in response.content.iter_any():
        now = time.monotonic_ns()
        buffer += piece
        for event in _events(buffer):
            data = _data(event)
            if data is not None:
                yield now, data


def _openai_frame(record: StreamRecord, now: int, data: bytes) -> None:
    if data == b"[DONE]":
        record.completed = True
        return
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError:
        record.errors.append("malformed chunk")
        return
    if "error" in chunk:
        record.errors.append(f"stream error: {str(chunk['error'])[:120]}")
        return
    for choice in chunk.get("choices") or ():
        text = (choice.get("delta") or {}).get("content")
        if text:
            record.content(now, text)


def _runtime_frame(record: StreamRecord, now: int, chunk: dict[str, Any], dialect: int) -> bool:
    """Apply one runtime chunk (or gateway frame); True once the request's reply is over."""
    kind = chunk.get("type")
    record.frames += 1
    if kind == "assistant_message":
        if chunk.get("is_final") is False:
            record.content(now, chunk.get("token"))
            return False
        if dialect == 1:
            record.content(now, chunk.get("content"), whole=True)
            record.completed = True
            return True
        return False
    if kind == "error":
        record.errors.append(f"error frame: {str(chunk.get('content') or chunk.get('error'))[:120]}")
        return dialect == 1 or chunk.get("session_id") is None
    if kind == "done":
        record.completed = chunk.get("stop_reason", "completed") in ("completed", None)
        return True
    return False


async def sse_openai(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], body: dict[str, Any], record: StreamRecord
) -> None:
    """POST an OpenAI chat completion (stream) to ``url`` and record its content chunks."""
    record.send_ns = time.monotonic_ns()
    async with session.post(url, data=orjson.dumps(body), headers=headers) as response:
        if response.status != 200:
            record.errors.append(f"HTTP {response.status}")
            return
        async for now, data in _sse_events(response, record):
            record.frames += 1
            _openai_frame(record, now, data)
    record.end_ns = time.monotonic_ns()


async def sse_runtime(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], body: dict[str, Any], record: StreamRecord
) -> str | None:
    """POST to the runtime's ``/agent/message/stream``; returns the session id the runtime reported."""
    record.send_ns = time.monotonic_ns()
    session_id = body.get("session_id")
    async with session.post(url, data=orjson.dumps(body), headers=headers) as response:
        if response.status != 200:
            record.errors.append(f"HTTP {response.status}")
            return session_id
        async for now, data in _sse_events(response, record):
            chunk = orjson.loads(data)
            session_id = chunk.get("session_id") or session_id
            if _runtime_frame(record, now, chunk, 2):
                break
    record.end_ns = time.monotonic_ns()
    return session_id


async def ws_turn(ws: ClientConnection, dialect: int, content: str, record: StreamRecord) -> None:
    """Send one ``user_message`` on an open gateway WebSocket and record frames until the reply is over."""
    frame: dict[str, Any] = {"type": "user_message", "content": content, "role": "user"}
    if dialect == 1:
        # the IDE sends every key of its model, unused ones as null
        frame.update(dict.fromkeys(("is_final", "call_id", "tool_name", "arguments", "result", "error", "metadata")))
    record.send_ns = time.monotonic_ns()
    await ws.send(orjson.dumps(frame).decode())
    async for message in ws:
        now = time.monotonic_ns()
        chunk = orjson.loads(message)
        if chunk.get("type") in ("session_info", "hello", "pong"):
            continue
        if _runtime_frame(record, now, chunk, dialect):
            break
    record.end_ns = time.monotonic_ns()


async def acp_turn(ws: ClientConnection, session_id: str, request_id: int, content: str, record: StreamRecord) -> None:
    """One ``session/prompt`` on an initialized ACP WebSocket; its ``agent_message_chunk`` updates are the content
    frames, its answer the end."""
    prompt = {"sessionId": session_id, "prompt": [{"type": "text", "text": content}]}
    record.send_ns = time.monotonic_ns()
    await ws.send(
        orjson.dumps({"jsonrpc": "2.0", "id": request_id, "method": "session/prompt", "params": prompt}).decode()
    )
    async for message in ws:
        now = time.monotonic_ns()
        data = orjson.loads(message)
        record.frames += 1
        if data.get("id") == request_id:
            if "error" in data:
                record.errors.append(f"error: {str(data['error'].get('message'))[:120]}")
            record.completed = (data.get("result") or {}).get("stopReason") == "end_turn"
            break
        update = (data.get("params") or {}).get("update") or {}
        if update.get("sessionUpdate") == "agent_message_chunk":
            record.content(now, (update.get("content") or {}).get("text"))
    record.end_ns = time.monotonic_ns()


async def acp_open(ws: ClientConnection) -> str:
    """``initialize`` and ``session/new`` (request ids 0 and 1, text frames: ACP ignores binary ones); the id."""
    initialize = {"protocolVersion": 1, "clientCapabilities": {}}
    await ws.send(orjson.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": initialize}).decode())
    orjson.loads(await ws.recv())
    new = {"cwd": "/tmp", "mcpServers": []}
    await ws.send(orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "session/new", "params": new}).decode())
    return str(orjson.loads(await ws.recv())["result"]["sessionId"])
