"""The relay: newline-delimited JSON-RPC with the editor on one side, the gateway's ACP WebSocket on the other.

When the WebSocket drops, the bridge reconnects (backoff up to ``MAX_BACKOFF`` s, for as long as the editor
stays), introduces the new connection as the old one (``initialize``, ``session/resume`` per session) and resumes
every prompt still waiting (``_codelab/prompt_resume``): the runtime kept the turn, the editor gets what it missed
and its ``session/prompt`` its answer. Editor input that arrives meanwhile waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from codelab_acp.ledger import Ledger, Message

_log = logging.getLogger("codelab_acp")

MAX_BACKOFF = 10.0
INTRODUCTION_TIMEOUT = 30.0
OWN_IDS = "codelab-acp/"
QUEUED_NOTIFICATIONS = 1000

WriteLine = Callable[[bytes], Awaitable[None]]
CLOSE_POLICY = 1008  # the gateway refused us (credentials, Origin, another subject's session): retrying cannot help


class Refused(Exception):
    """The gateway closed with 1008; the reason is safe to show (it never holds the credential)."""


class Bridge:
    def __init__(self, url: str, headers: dict[str, str], write: WriteLine) -> None:
        self.url = url
        self.headers = headers
        self._write = write
        self.ledger = Ledger()
        self.connection = 0
        self._socket: ClientConnection | None = None  # set once the connection is introduced
        self._waiting: dict[str, asyncio.Future[Message]] = {}
        self._queued: list[Message] = []  # notifications while no connection is ready
        self._editor_gone = asyncio.Event()
        self.connected = asyncio.Event()  # set while a connection is introduced (tests wait on it)

    # editor side -----------------------------------------------------------------------------------------------

    async def from_editor(self, line: bytes) -> None:
        """One line from the editor (stdin)."""
        try:
            message = orjson.loads(line)
        except orjson.JSONDecodeError:
            await self._to_editor({"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}})
            return
        if not isinstance(message, dict):  # a batch or a bare value: ACP sends one object per line
            error = {"code": -32600, "message": "one JSON-RPC message (an object) per line; batches are not supported"}
            await self._to_editor({"jsonrpc": "2.0", "id": None, "error": error})
            return
        outgoing = self.ledger.from_editor(message, self.connection)
        if outgoing is None:
            return
        if "method" in outgoing and "id" not in outgoing and self._socket is None:
            if len(self._queued) < QUEUED_NOTIFICATIONS:
                self._queued.append(outgoing)
            return
        if self._socket is not None:
            with contextlib.suppress(ConnectionClosed):  # a request stays in the ledger: sent again on reconnect
                await self._send(self._socket, outgoing)
        # else: a request stays in the ledger and goes out once a connection is introduced

    def editor_closed(self) -> None:
        self._editor_gone.set()

    async def _to_editor(self, message: Message) -> None:
        await self._write(orjson.dumps(message) + b"\n")

    # gateway side ----------------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, relay, reconnect; until the editor closes its side. ``Refused`` when the gateway refuses us:
        the editor's waiting requests are answered with the reason first."""
        backoff = 0.5
        while not self._editor_gone.is_set():
            socket: ClientConnection | None = None
            try:
                async with connect(self.url, additional_headers=self.headers, max_size=None) as socket:
                    self.connection += 1
                    backoff = 0.5
                    await self._serve(socket)
            except (OSError, InvalidHandshake, TimeoutError, ConnectionClosed) as exc:
                _log.warning("gateway connection lost or refused (%s); retrying in %.1f s", type(exc).__name__, backoff)
            except InvalidURI as exc:
                _log.error("invalid gateway URL: %s", exc)
                raise
            finally:
                self._socket = None
                self.connected.clear()
                for waiter in self._waiting.values():
                    if not waiter.done():
                        waiter.set_exception(ConnectionError("connection lost"))
                self._waiting.clear()
            if socket is not None and socket.close_code == CLOSE_POLICY:
                await self._refused(socket.close_reason or "refused")
            if self._editor_gone.is_set():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._editor_gone.wait(), backoff)
            backoff = min(MAX_BACKOFF, backoff * 2)

    async def _refused(self, reason: str) -> None:
        error = {"code": -32000, "message": f"the CodeLab gateway refused the connection: {reason}"}
        for request_id in list(self.ledger.pending):
            await self._to_editor({"jsonrpc": "2.0", "id": request_id, "error": error})
        self.ledger.pending.clear()
        raise Refused(reason)

    async def _serve(self, socket: ClientConnection) -> None:
        """Until the socket closes or the editor leaves; the introduction races the reader (a socket that dies
        while being introduced ends it at once)."""
        reader = asyncio.create_task(self._read(socket))
        introduction = asyncio.create_task(self._introduce(socket))
        editor_gone = asyncio.create_task(self._editor_gone.wait())
        tasks = (reader, introduction, editor_gone)
        try:
            await asyncio.wait({reader, introduction, editor_gone}, return_when=asyncio.FIRST_COMPLETED)
            if introduction.done() and not reader.done() and not editor_gone.done():
                introduction.result()  # a failed introduction: reconnect
                await asyncio.wait({reader, editor_gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await task
        if reader.done() and not reader.cancelled() and reader.exception() is not None:
            raise reader.exception()  # type: ignore[misc]

    async def _introduce(self, socket: ClientConnection) -> None:
        """Make this connection the one before it, then let the editor's traffic through."""
        if self.connection > 1:
            for request in self.ledger.reintroduction(self.connection):
                answer = await self._ask(socket, request)
                if "error" in answer:
                    _log.warning("%s after reconnecting: %s", request["method"], answer["error"].get("message"))
        pending = self.ledger.unanswered()
        queued, self._queued = self._queued, []
        self._socket = socket
        self.connected.set()
        for message in [*pending, *queued]:
            await self._send(socket, message)
        if self.connection > 1:
            _log.info("reconnected; resumed %d pending request(s)", len(pending))

    async def _ask(self, socket: ClientConnection, request: Message) -> Message:
        waiter: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiting[request["id"]] = waiter
        await self._send(socket, request)
        async with asyncio.timeout(INTRODUCTION_TIMEOUT):
            return await waiter

    async def _read(self, socket: ClientConnection) -> None:
        async for frame in socket:
            if isinstance(frame, bytes):
                continue
            try:
                message = orjson.loads(frame)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(message, dict):
                continue
            own = message.get("id")
            if "method" not in message and isinstance(own, str) and own.startswith(OWN_IDS):
                waiter = self._waiting.pop(own, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(message)
                continue
            outgoing = self.ledger.from_gateway(message, self.connection)
            if outgoing is not None:
                await self._to_editor(outgoing)

    @staticmethod
    async def _send(socket: ClientConnection, message: Any) -> None:
        await socket.send(orjson.dumps(message).decode())
