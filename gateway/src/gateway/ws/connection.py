"""One client socket: inbound frames dispatched to the runtime in order, runtime streams relayed back.

Tasks per connection, so the socket is read at all times (the endpoint's reader) and nothing the client does can
block it:

- the **dispatcher** posts frames to the runtime one after another, waiting only until each is *accepted*, so the
  runtime sees them in the client's order while a turn is still streaming (``cancel``, a queued ``user_message``);
- one **relay** per accepted frame; relays emit one after another (each stream ends with its run's ``done``, and
  runs of a session are sequential), so frames leave in ``seq`` order;
- at most one **follower** (``resume``: the runtime's event log, then live); while it runs it is the only source
  (it sees every event of the session, in order) and the relays are only drained;
- every source goes through ``emit``, which drops a ``seq`` at or below the last one sent (or the resume cursor)
  and pushes the translated frame into the bounded ``OutboundBuffer``;
- the **writer** (the ``Channel``'s) drains the buffer to the socket, every frame that is waiting in one write.

The dispatcher and the writer start with the first frame that needs them, and wake-ups are bare futures made while
someone waits: an idle socket (an IDE left open) holds no task of its own and no ``asyncio.Event``/``Queue`` (their
waiter deques weigh ~0.75 KiB each), which is what keeps thousands of idle sockets cheap.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from gateway.metrics import GatewayMetrics
from gateway.runtime_client import Chunk, ChunkStream, RuntimeClient, RuntimeRefused, RuntimeUnavailable
from gateway.ws.channel import Channel
from gateway.ws.closes import CLOSE_POLICY, Closing
from gateway.ws.dialects import Dialect, V2Dialect
from gateway.ws.frames import IDE_TOOLS, Cancel, Hello, InboundFrame, Ping, Resume
from gateway.ws.outbound import OutboundBuffer, Outgoing
from gateway.ws.sink import FrameSink

IDE_CLIENT_TOOLS: dict[str, Any] = {"client_tools": list(IDE_TOOLS)}  # shared, never changed (merged with |)

INBOUND_LIMIT = 256  # frames waiting for the runtime; more is a client not waiting for answers
# The error code of a frame the runtime could not be reached for: it was not delivered, and the same frame (the same
# client_message_id) may be sent again once the runtime is back.
RUNTIME_UNAVAILABLE = "runtime_unavailable"
# The error code when the live follow-up of a resumed session ends (the runtime went away): news, not the end of a
# frame's stream: each frame the client sent still ends with its own done or error.
FOLLOW_FAILED = "follow_failed"


class Connection(Channel):
    """The state of one socket. ``session_id`` is None until a ``new_*`` socket learns its real id."""

    def __init__(
        self,
        sink: FrameSink,
        runtime: RuntimeClient,
        metrics: GatewayMetrics,
        buffer: OutboundBuffer,
        *,
        session_id: str | None,
        subject: str | None,
        dialect: Dialect,
    ) -> None:
        super().__init__(sink, metrics, buffer)
        self.runtime = runtime
        self.session_id = session_id
        self.subject = subject
        self.dialect = dialect
        self.last_seq = 0
        self.frames_read = 0
        # client_tools (+ options) sent on every frame: what a v2 hello declared, else the IDE's six
        self.client_tools: dict[str, Any] = IDE_CLIENT_TOOLS
        self._first_seen = False
        self._first_frame: asyncio.Future[None] | None = None  # only while ``restore`` waits for it
        self._session_known: asyncio.Future[None] | None = None  # only while the dispatcher waits for it
        self._inbound: list[InboundFrame] = []  # at most INBOUND_LIMIT; a list, as an empty deque weighs 0.75 KiB
        self._inbound_ready: asyncio.Future[None] | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._follower: asyncio.Task[None] | None = None
        self._last_relay: asyncio.Task[None] | None = None

    def log_fields(self) -> dict[str, Any]:
        return {"session_id": self.session_id}

    # inbound ---------------------------------------------------------------------------------------------------

    def handle(self, frame: InboundFrame) -> None:
        """Act on one valid inbound frame; never blocks (the reader must keep reading)."""
        self.frames_read += 1
        self._first_seen = True
        if self._first_frame is not None and not self._first_frame.done():
            self._first_frame.set_result(None)
        if isinstance(frame, Ping):
            self.send_control({"type": "pong", "nonce": frame.nonce} if frame.nonce is not None else {"type": "pong"})
        elif isinstance(frame, Hello):
            self._hello(frame)
        elif isinstance(frame, Resume):
            self._resume(frame.last_seq)
        elif len(self._inbound) >= INBOUND_LIMIT:
            self.send_error("too many frames waiting for the runtime; slow down")
        else:
            self._inbound.append(frame)
            if self._dispatcher is None:
                self._dispatcher = self.spawn(self._dispatch_loop())
            elif self._inbound_ready is not None and not self._inbound_ready.done():
                self._inbound_ready.set_result(None)

    def _hello(self, frame: Hello) -> None:
        if frame.protocol != 2:
            self.send_error(f"unsupported protocol {frame.protocol}; this gateway speaks 1 and 2")
            return
        if self.dialect.version != 2:
            if self.frames_read > 1:
                self.send_error("hello must be the first frame")
                return
            self.dialect = V2Dialect()
        if frame.client_tools is not None:
            self.client_tools = {"client_tools": frame.client_tools}
            if frame.client_tools_options is not None:
                self.client_tools["client_tools_options"] = frame.client_tools_options
        answer: dict[str, Any] = {"type": "hello", "protocol": 2}
        if self.session_id is not None:
            answer["session_id"] = self.session_id
        self.send_control(answer)

    def _resume(self, last_seq: int) -> None:
        if self.session_id is None:
            self.send_error("nothing to resume: this socket has no session yet")
            return
        self.last_seq = max(self.last_seq, last_seq)
        if self._follower is not None:
            self._follower.cancel()
        self._follower = self.spawn(self._follow(self.session_id, self.last_seq))

    def send_control(self, frame: dict[str, Any], kind: str | None = None) -> None:
        """A connection-level frame (no ``seq``)."""
        super().send_control(frame, kind or str(frame["type"]))

    def send_error(self, message: str, code: str | None = None) -> None:
        frame: dict[str, Any] = {"type": "error", "content": message, "error": message}
        if code is not None:
            frame["metadata"] = {"code": code}
        self.send_control(frame)

    # runtime side ----------------------------------------------------------------------------------------------

    async def _dispatch_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._inbound:
                self._inbound_ready = loop.create_future()
                try:
                    await self._inbound_ready
                finally:
                    self._inbound_ready = None
            stream = await self._open(self._inbound.pop(0))
            if stream is None:
                continue
            relay = self.spawn(self._relay(stream, self._last_relay))
            self._last_relay = relay
            if self.session_id is None:
                # Frames after the one that creates the session must name it: wait for session_info (or the end).
                self._session_known = loop.create_future()
                try:
                    await asyncio.wait({self._session_known, relay}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    self._session_known = None

    async def _open(self, frame: InboundFrame) -> ChunkStream | None:
        if isinstance(frame, Cancel) and self.session_id is None:
            self.send_error("nothing to cancel: this socket has no session yet")
            return None
        try:
            message = frame.for_runtime() | self.client_tools
            return await self.runtime.open_message(self.session_id, message, self.subject)
        except RuntimeRefused as exc:
            if exc.status == 403:
                raise Closing(CLOSE_POLICY, "session belongs to another subject") from None
            self.metrics.error("runtime_refused")
            self.send_error(exc.message)
        except RuntimeUnavailable as exc:
            self.metrics.error("runtime_unavailable")
            self.send_error(exc.message, RUNTIME_UNAVAILABLE)  # the frame never reached it: a client may send it again
        return None

    async def _relay(self, stream: ChunkStream, previous: asyncio.Task[None] | None) -> None:
        """Relay one accepted frame's stream. Streams go out one after another, like the runs they carry, so seqs
        leave in order; while an earlier stream still runs, this one's chunks are held back, except ``status``
        (e.g. "queued behind the running turn"), which is news now."""
        held: list[Chunk] = []
        try:
            async for chunk in stream.chunks():
                if self.session_id is None and chunk.data.get("type") == "session_info":
                    self._learn_session(chunk)
                if previous is not None and previous.done():
                    previous = None
                    await self._emit_all(held)
                if previous is None or chunk.data.get("type") == "status":
                    await self._emit_relayed(chunk)
                else:
                    held.append(chunk)
            if previous is not None:
                await asyncio.wait({previous})
            await self._emit_all(held)
        except RuntimeUnavailable as exc:
            self.metrics.error("runtime_stream")
            self.send_error(exc.message)
        finally:
            stream.close()

    async def _emit_all(self, chunks: list[Chunk]) -> None:
        for chunk in chunks:
            await self._emit_relayed(chunk)
        chunks.clear()

    async def _emit_relayed(self, chunk: Chunk) -> None:
        if self._follower is None:  # a follower sees every session event in order: it is the only source then
            await self.emit(chunk)

    def _learn_session(self, chunk: Chunk) -> None:
        session_id = chunk.data.get("session_id")
        if isinstance(session_id, str) and session_id:
            self.session_id = session_id
            if self._session_known is not None and not self._session_known.done():
                self._session_known.set_result(None)

    async def _follow(self, session_id: str, after: int) -> None:
        try:
            stream = await self.runtime.open_events(session_id, after, self.subject)
        except RuntimeRefused as exc:
            if exc.status == 403:
                raise Closing(CLOSE_POLICY, "session belongs to another subject") from None
            self._follower = None
            self.send_error(exc.message, FOLLOW_FAILED)
            return
        except RuntimeUnavailable as exc:
            self._follower = None
            self.send_error(exc.message, FOLLOW_FAILED)
            return
        try:
            async for chunk in stream.chunks():
                await self.emit(chunk)
        except RuntimeUnavailable as exc:
            self.send_error(exc.message, FOLLOW_FAILED)
        finally:
            stream.close()
            if self._follower is asyncio.current_task():
                self._follower = None

    async def emit(self, chunk: Chunk) -> None:
        """Translate one runtime chunk into this socket's dialect and queue it, unless its ``seq`` was sent.

        A ``status`` is news, not history: the log never replays it, and it may come from a later frame's stream
        while an earlier stream's seqs are still on their way. So it goes out without a seq and never moves the
        resume cursor (with its seq it could make the earlier stream's last frames look already sent)."""
        seq = None if chunk.data.get("type") == "status" else chunk.seq
        if seq is not None:
            if seq <= self.last_seq:
                return
            self.last_seq = seq
        frame = self.dialect.translate(chunk.data, seq)
        if frame is None:
            return
        kind = str(frame.get("type", ""))
        delta = kind == "assistant_message" and frame.get("is_final") is False
        await self.send(Outgoing(frame, kind, chunk.received_at, delta))

    async def restore(self, calls: list[dict[str, Any]], hello_grace: float) -> None:
        """v1 reconnect: re-send the tool calls the IDE has not answered (approval-gated ones it restores itself
        through ``pending-approvals``). A client may still choose v2 with a first ``hello``, so this waits up to
        ``hello_grace`` seconds for the first frame before deciding."""
        if not calls:
            return
        if not self._first_seen:
            self._first_frame = asyncio.get_running_loop().create_future()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._first_frame, hello_grace)
            self._first_frame = None
        if self.dialect.version == 1:
            await self._restore_tool_calls(calls)

    async def _restore_tool_calls(self, calls: list[dict[str, Any]]) -> None:
        for call in calls:
            if call.get("requires_approval"):
                continue
            chunk = {"type": "tool_call", "session_id": self.session_id, **call}
            chunk.pop("created_at", None)
            await self.emit(Chunk(chunk, None, time.perf_counter()))
