"""The bounded per-connection outbound buffer: a slow reader cannot make the gateway's memory grow.

When the buffer is full, adjacent token deltas are merged into one (the client sees fewer, larger deltas and the
same text; the merged frame keeps the last ``seq`` so a resume cursor stays exact). If it is still full, the
producer waits. If it stays full for ``stall_timeout`` seconds, merging or not, the consumer is declared slow
(close 1013: reconnect and resume).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Outgoing:
    """A frame waiting to be sent; ``received_at`` (perf_counter) feeds the relay-latency histogram."""

    frame: dict[str, Any]
    kind: str
    received_at: float | None = None
    delta: bool = False


class SlowConsumer(Exception):
    """The outbound buffer stayed full: the client reads slower than its session produces."""


class OutboundBuffer:
    """FIFO of ``Outgoing`` with a capacity; one consumer (the writer), any number of producers."""

    def __init__(self, capacity: int, stall_timeout: float) -> None:
        self._items: deque[Outgoing] = deque()
        self._capacity = capacity
        self._stall_timeout = stall_timeout
        self._not_empty = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()
        self.coalesced = 0
        self._full_since: float | None = None

    def __len__(self) -> int:
        return len(self._items)

    async def put(self, item: Outgoing) -> None:
        """Queue a session frame; coalesce, then wait, when full; raise ``SlowConsumer`` if it stays full."""
        while len(self._items) >= self._capacity:
            self._check_stall()
            if item.delta and self._items and self._items[-1].delta:
                _merge(self._items[-1], item)
                self.coalesced += 1
                return
            self._coalesce()
            if len(self._items) < self._capacity:
                break
            self._space.clear()
            try:
                await asyncio.wait_for(self._space.wait(), self._stall_timeout)
            except TimeoutError:
                raise SlowConsumer(f"outbound buffer full for {self._stall_timeout:g}s") from None
        self._append(item)

    def put_control(self, item: Outgoing) -> None:
        """Queue a connection-level frame (pong, hello, error) without waiting; inbound rate limits bound these."""
        self._append(item)

    async def get(self) -> Outgoing:
        while not self._items:
            self._not_empty.clear()
            await self._not_empty.wait()
        item = self._items.popleft()
        if len(self._items) < self._capacity:
            self._full_since = None
            self._space.set()
        return item

    def _check_stall(self) -> None:
        """Coalescing keeps memory flat but must not hide a reader that stopped: full for too long is slow."""
        now = time.monotonic()
        if self._full_since is None:
            self._full_since = now
        elif now - self._full_since > self._stall_timeout:
            raise SlowConsumer(f"outbound buffer full for {self._stall_timeout:g}s")

    def _append(self, item: Outgoing) -> None:
        self._items.append(item)
        self._not_empty.set()

    def _coalesce(self) -> None:
        merged: deque[Outgoing] = deque()
        for item in self._items:
            if item.delta and merged and merged[-1].delta:
                _merge(merged[-1], item)
                self.coalesced += 1
            else:
                merged.append(item)
        self._items = merged


def _merge(into: Outgoing, later: Outgoing) -> None:
    into.frame["token"] = str(into.frame.get("token", "")) + str(later.frame.get("token", ""))
    if "seq" in later.frame:
        into.frame["seq"] = later.frame["seq"]
