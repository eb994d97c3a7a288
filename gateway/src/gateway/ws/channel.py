"""What every client socket has, whatever its protocol: its tasks, the decision to close, and the outbound side.

A ``Channel`` owns the tasks of one socket (each guarded, so a bug ends that socket with 1011 and never the process),
the ``closing`` future its endpoint waits on, and the bounded ``OutboundBuffer`` with the one writer task that
drains it to the ``FrameSink``, every frame waiting in one write. The IDE's ``ws.connection.Connection`` and the
ACP connection (``gateway.acp``) are channels; the graceful shutdown closes every channel with 1001.

The writer starts with the first frame to send, and wake-ups are bare futures made while someone waits: an idle
socket holds no task of its own (see ``ws.connection``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine
from typing import Any

import orjson
import structlog

from gateway.metrics import GatewayMetrics
from gateway.ws.closes import CLOSE_INTERNAL, CLOSE_NORMAL, CLOSE_TRY_AGAIN, Closing
from gateway.ws.outbound import OutboundBuffer, Outgoing, SlowConsumer
from gateway.ws.sink import FrameSink

_log = structlog.get_logger(__name__)

WRITE_BATCH = 64  # frames per write at most, so one write stays small and the relay latency is observed often


class Channel:
    """The tasks, the closing decision and the writer of one socket."""

    def __init__(self, sink: FrameSink, metrics: GatewayMetrics, buffer: OutboundBuffer) -> None:
        self.sink = sink
        self.metrics = metrics
        self.buffer = buffer
        self._writer: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.closing: asyncio.Future[Closing] = asyncio.get_running_loop().create_future()
        """Resolves when a task decided the connection must end (slow consumer, foreign session, socket gone)."""

    def log_fields(self) -> dict[str, Any]:
        """What identifies this socket in a log line."""
        return {}

    # lifecycle -------------------------------------------------------------------------------------------------

    async def wait_closing(self) -> Closing:
        """Waits for ``closing``."""
        return await asyncio.shield(self.closing)

    def close_with(self, code: int, reason: str) -> None:
        if not self.closing.done():
            self.closing.set_result(Closing(code, reason))

    async def stop(self) -> None:
        """Cancel every task of the connection; the runtime's runs are not affected."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(self._guarded(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _guarded(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except Closing as exc:
            self.close_with(exc.code, exc.reason)
        except SlowConsumer as exc:
            self.metrics.error("slow_consumer")
            self.close_with(CLOSE_TRY_AGAIN, str(exc))
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 -- a bug must end this socket only, with 1011, never the process
            _log.exception("websocket task failed", **self.log_fields())
            self.metrics.error("internal")
            self.close_with(CLOSE_INTERNAL, "internal error")

    # outbound --------------------------------------------------------------------------------------------------

    def send_control(self, frame: dict[str, Any], kind: str) -> None:
        """A connection-level frame: queued without waiting (inbound rate limits bound these)."""
        self.buffer.put_control(Outgoing(frame, kind))
        self._start_writer()

    async def send(self, item: Outgoing) -> None:
        """A session frame: queued at once when there is room, else coalesced or waited for (``OutboundBuffer``)."""
        self._start_writer()
        if not self.buffer.offer(item):
            await self.buffer.put(item)

    def _start_writer(self) -> None:
        if self._writer is None:
            self._writer = self.spawn(self._write_loop())

    async def _write_loop(self) -> None:
        """Everything waiting goes out in one write (frames stay frames: a batch is only one syscall)."""
        metrics = self.metrics
        while True:
            items = await self.buffer.get_batch(WRITE_BATCH)
            payloads = [orjson.dumps(item.frame) for item in items]
            try:
                await self.sink.send_frames(payloads)
            except Exception as exc:  # noqa: BLE001 -- the peer went away mid-send: nothing left to close politely
                raise Closing(CLOSE_NORMAL, f"send failed: {type(exc).__name__}") from None
            now = time.perf_counter()
            for item in items:
                metrics.frame_out(item.kind)
                if item.received_at is not None:
                    metrics.relayed(now - item.received_at)
