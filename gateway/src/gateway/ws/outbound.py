"""The bounded per-connection outbound buffer: a slow reader cannot make the gateway's memory grow.

When the buffer is full, adjacent token deltas are merged into one (the client sees fewer, larger deltas and the
same text; the merged frame keeps the last ``seq`` so a resume cursor stays exact). If it is still full, the
producer waits. If it stays full for ``stall_timeout`` seconds, merging or not, the consumer is declared slow
(close 1013: reconnect and resume).
"""

from __future__ import annotations

import asyncio
import time
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
    """FIFO of ``Outgoing`` with a capacity; one consumer (the writer), any number of producers.

    Wake-ups are bare futures made only while someone waits (not ``asyncio.Event``s, whose waiter deques cost
    ~0.75 KiB each on every idle socket), and the items live in a list (an empty deque is another ~0.75 KiB).
    """

    __slots__ = ("_capacity", "_full_since", "_items", "_space", "_stall_timeout", "_waiter", "coalesced")

    def __init__(self, capacity: int, stall_timeout: float) -> None:
        self._items: list[Outgoing] = []
        self._capacity = capacity
        self._stall_timeout = stall_timeout
        self._waiter: asyncio.Future[None] | None = None  # the consumer, waiting for an item
        self._space: asyncio.Future[None] | None = None  # producers, waiting for room
        self.coalesced = 0
        self._full_since: float | None = None

    def __len__(self) -> int:
        return len(self._items)

    def offer(self, item: Outgoing) -> bool:
        """Queue a session frame if there is room, without waiting; False when the caller must ``put`` it."""
        if len(self._items) >= self._capacity:
            return False
        self._append(item)
        return True

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
            if self._space is None:
                self._space = asyncio.get_running_loop().create_future()
            try:
                # Shielded: producers share the future, and one timing out must not cancel it for the others.
                await asyncio.wait_for(asyncio.shield(self._space), self._stall_timeout)
            except TimeoutError:
                raise SlowConsumer(f"outbound buffer full for {self._stall_timeout:g}s") from None
        self._append(item)

    def put_control(self, item: Outgoing) -> None:
        """Queue a connection-level frame (pong, hello, error) without waiting; inbound rate limits bound these."""
        self._append(item)

    async def get(self) -> Outgoing:
        """The oldest frame; waits for one."""
        return (await self.get_batch(1))[0]

    async def get_batch(self, limit: int) -> list[Outgoing]:
        """The oldest frames, at least one and at most ``limit``, in order; waits for the first."""
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if len(self._items) <= limit:
            batch, self._items = self._items, []
        else:
            batch, self._items = self._items[:limit], self._items[limit:]
        if len(self._items) < self._capacity:
            self._full_since = None
            space, self._space = self._space, None
            if space is not None and not space.done():
                space.set_result(None)
        return batch

    def _check_stall(self) -> None:
        """Coalescing keeps memory flat but must not hide a reader that stopped: full for too long is slow."""
        now = time.monotonic()
        if self._full_since is None:
            self._full_since = now
        elif now - self._full_since > self._stall_timeout:
            raise SlowConsumer(f"outbound buffer full for {self._stall_timeout:g}s")

    def _append(self, item: Outgoing) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _coalesce(self) -> None:
        merged: list[Outgoing] = []
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
