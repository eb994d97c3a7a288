"""Turns whose every token names its position, a ledger that judges what a client received for one turn, and a v2
client that survives hard disconnects by reconnecting and resuming from its last ``seq``.

A turn's message is ``[[delay_ms:D]] <tag>w0 <tag>w1 …``: the llm-proxy's mock echoes it word by word, so every
token delta says which token it is and the client can count lost, duplicated and reordered tokens exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets

from harness import Socket, System, Tally

_INDEX = re.compile(r"w(\d+)")


def message(tag: str, count: int, delay_ms: int = 20, ttft_ms: int = 0) -> tuple[str, list[str]]:
    """The user message of a turn and the words its answer must contain, in order."""
    words = [f"{tag}w{i}" for i in range(count)]
    directives = f"[[delay_ms:{delay_ms}]]" + (f" [[ttft_ms:{ttft_ms}]]" if ttft_ms else "")
    return f"{directives} {' '.join(words)}", words


@dataclass
class Ledger:
    """What one client received of one turn."""

    words: list[str]
    indices: list[int] = field(default_factory=list)
    finals: list[str] = field(default_factory=list)
    dones: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def add(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "assistant_message" and frame.get("is_final") is False:
            found = _INDEX.search(str(frame.get("token", "")))
            if found:
                self.indices.append(int(found.group(1)))
        elif kind == "assistant_message":
            self.finals.append(str(frame.get("content", "")))
        elif kind == "done":
            self.dones.append(frame)
        elif kind == "error" and "seq" in frame:
            self.errors.append(frame)

    @property
    def finished(self) -> bool:
        return bool(self.dones)

    def judge(self, tally: Tally) -> bool:
        """Count this turn's lost, duplicated and reordered tokens; True when the turn came back exactly once."""
        seen = set(self.indices)
        duplicated = len(self.indices) - len(seen)
        reordered = sum(1 for a, b in zip(self.indices, self.indices[1:], strict=False) if b < a)
        # A delta may be missing only at the tail (the turn ended while the client was away: the final carries it);
        # a hole before the last delta received is a lost token.
        holes = (max(seen) + 1 - len(seen)) if seen else 0
        final_words = self.finals[0].split() if self.finals else []
        lost_in_final = len(self.words) - sum(1 for a, b in zip(final_words, self.words, strict=False) if a == b)
        tally.add("tokens_expected", len(self.words))
        tally.add("tokens_received_as_deltas", len(seen))
        tally.add("lost_tokens", holes + (lost_in_final if self.finals else len(self.words)))
        tally.add("duplicated_tokens", duplicated)
        tally.add("reordered_tokens", reordered)
        tally.add("turns")
        extra_finals = max(0, len(self.finals) - 1)
        tally.add("duplicated_final_messages", extra_finals)
        tally.add("turns_without_final", 0 if self.finals else 1)
        tally.add("turns_without_done", 0 if self.dones else 1)
        tally.add("duplicated_done", max(0, len(self.dones) - 1))
        ok = not holes and not duplicated and not reordered and len(self.finals) == 1 and len(self.dones) == 1
        ok = ok and final_words == self.words
        tally.add("turns_exact" if ok else "turns_inexact")
        return ok


async def create_session(system: System, headers: dict[str, str] | None = None) -> str:
    """A session made through the gateway's REST facade, so a socket can be opened on its real id at once."""
    async with httpx.AsyncClient(timeout=15) as client:
        answer = await client.post(f"{system.gateway.url}/api/v1/sessions", json={}, headers=headers or {})
    answer.raise_for_status()
    return str(answer.json()["id"])


class ResumingClient:
    """A v2 client of one session that tracks its ``seq`` and can be cut off and resumed at any time."""

    def __init__(self, url_for: Any, session_id: str, tally: Tally) -> None:
        self.url_for = url_for  # session id → ws URL; a callable so the gateway may move (T8)
        self.session_id = session_id
        self.tally = tally
        self.last_seq = 0
        self.seen: set[int] = set()
        self.socket: Socket | None = None
        self._ws: websockets.ClientConnection | None = None

    async def connect(self, resume: bool = True, attempts: int = 1, pause: float = 0.1) -> None:
        for attempt in range(attempts):
            try:
                self._ws = await websockets.connect(self.url_for(self.session_id), max_size=None, open_timeout=5)
                break
            except (OSError, websockets.InvalidHandshake, TimeoutError):
                if attempt == attempts - 1:
                    raise
                await asyncio.sleep(pause)
        assert self._ws is not None
        self.socket = Socket(self._ws)
        self.tally.add("connections")
        if resume:
            await self.socket.send({"type": "resume", "last_seq": self.last_seq})

    async def cut(self) -> None:
        """A hard disconnect (no close handshake)."""
        if self.socket is not None:
            await self.socket.abort()
            self.tally.add("hard_disconnects")
        self.socket = None

    async def close(self) -> None:
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.close(), 3)
        self.socket = None

    async def send(self, frame: dict[str, Any]) -> None:
        assert self.socket is not None
        await self.socket.send(frame)

    async def recv(self, timeout: float) -> dict[str, Any] | None:
        """The next session frame (connection-level frames are returned too, without ``seq``); None on timeout."""
        assert self.socket is not None
        try:
            async with asyncio.timeout(timeout):
                frame: dict[str, Any] = json.loads(await self.socket.ws.recv())
        except TimeoutError:
            return None
        seq = frame.get("seq")
        if isinstance(seq, int):
            if seq in self.seen:
                self.tally.add("duplicated_seq")
            elif seq < self.last_seq:
                self.tally.add("reordered_seq")
            self.seen.add(seq)
            self.last_seq = max(self.last_seq, seq)
        return frame
