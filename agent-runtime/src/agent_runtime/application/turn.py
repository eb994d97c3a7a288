"""One turn of a session: append the user's message, stream the model with the session's history, append the
reply, stop the run. The turn runs as its own task under the session's writer lock, so it reaches its stop point
even when the HTTP request that started it goes away; the request only follows the session's live stream.

Token deltas are not persisted: they go straight to the live fan-out with seqs from a reserved block (one
commit per ``SEQ_BLOCK`` tokens), so a seq is never reused even if the process dies mid-turn.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import orjson

from agent_runtime.application.command_bus import CommandBus, new_id
from agent_runtime.application.commands import (
    AppendAssistantMessage,
    AppendUserMessage,
    Command,
    CreateSession,
    FinishRun,
    ReserveSeqs,
    StartRun,
)
from agent_runtime.application.fanout import Follower, SessionFanout
from agent_runtime.application.ports import LLMClient, UnitOfWorkFactory
from agent_runtime.application.queries import check_session, openai_history
from agent_runtime.domain.run import Run, StopReason

SEQ_BLOCK = 256
_log = logging.getLogger("agent_runtime.turn")


class SeqBlock:
    """Hands out seqs for non-durable chunks from a committed reservation."""

    def __init__(self, commands: CommandBus, session_id: str, size: int = SEQ_BLOCK) -> None:
        self._commands = commands
        self._session_id = session_id
        self._size = size
        self._next = 0
        self._end = -1

    async def next(self) -> int:
        if self._next > self._end:
            block: range = await self._commands.execute(ReserveSeqs(session_id=self._session_id, count=self._size))
            self._next, self._end = block.start, block.stop - 1
        seq = self._next
        self._next += 1
        return seq

    def invalidate(self) -> None:
        """After a durable event the rest of the block lies below its seq: take a fresh block next time."""
        self._end = -1


@dataclass(slots=True)
class TurnHandle:
    """``ready`` resolves to the follower of the turn's chunks; ``correlation_id`` ties its events together."""

    session_id: str
    ready: asyncio.Future[Follower]
    subject: str | None = None
    correlation_id: str = ""


class TurnRunner:
    def __init__(
        self, commands: CommandBus, uows: UnitOfWorkFactory, llm: LLMClient, fanout: SessionFanout, *, model: str
    ) -> None:
        self._commands = commands
        self._uows = uows
        self._llm = llm
        self._fanout = fanout
        self._model = model
        self._tasks: set[asyncio.Task[None]] = set()

    def start(
        self, *, session_id: str | None, content: str, subject: str | None, correlation_id: str | None = None
    ) -> TurnHandle:
        """Start the turn in the background; ``ready`` resolves to the follower of its chunks once it holds the
        session's writer lock (so the follower sees this turn's chunks and nothing older)."""
        future: asyncio.Future[Follower] = asyncio.get_running_loop().create_future()
        handle = TurnHandle(session_id or new_id(), future, subject, correlation_id or new_id())
        task = asyncio.create_task(self._run(handle, content, announce=session_id is None))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return handle

    async def aclose(self) -> None:
        """Cancel running turns at shutdown; their runs are marked failed at the next start."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self, handle: TurnHandle, content: str, *, announce: bool) -> None:
        try:
            async with self._commands.writer(handle.session_id):
                follower = self._fanout.follow(handle.session_id)
                handle.ready.set_result(follower)
                try:
                    await self._turn(handle, content, announce=announce)
                finally:
                    self._fanout.leave(handle.session_id, follower)
        except Exception as exc:  # noqa: BLE001 - the reader must learn the turn never started
            _log.exception("turn failed", extra={"session_id": handle.session_id})
            if not handle.ready.done():
                handle.ready.set_exception(exc)

    async def _turn(self, handle: TurnHandle, content: str, *, announce: bool) -> None:
        session_id, subject = handle.session_id, handle.subject
        if await check_session(self._uows, session_id, subject=subject) is None:
            await self._execute(handle, CreateSession(session_id=session_id, subject=subject, announce=announce))
        await self._execute(handle, AppendUserMessage(session_id=session_id, content=content, subject=subject))
        run: Run = await self._execute(handle, StartRun(session_id=session_id, subject=subject))
        try:
            await self._stream_reply(handle, run)
        except Exception:  # noqa: BLE001 - the run must still reach a stop point
            _log.exception("turn aborted", extra={"session_id": session_id})
            failure = FinishRun(
                session_id=session_id,
                run_id=run.id,
                stop_reason=StopReason.ERROR,
                error="the turn failed inside the runtime",
                error_code="internal_error",
            )
            await self._execute(handle, failure)

    async def _execute(self, handle: TurnHandle, command: Command) -> Any:
        return await self._commands.execute(command, correlation_id=handle.correlation_id)

    async def _stream_reply(self, handle: TurnHandle, run: Run) -> None:
        session_id = run.session_id
        messages = await openai_history(self._uows, session_id)
        seqs = SeqBlock(self._commands, session_id)
        parts: list[str] = []
        usage: dict[str, Any] | None = None
        started = time.perf_counter()
        try:
            async for chunk in self._llm.stream_chat(model=self._model, messages=messages, session_id=session_id):
                usage = chunk.get("usage") or usage
                for choice in chunk.get("choices") or ():
                    token = (choice.get("delta") or {}).get("content")
                    if token:
                        parts.append(token)
                        delta = {"type": "assistant_message", "token": token, "is_final": False}
                        delta["session_id"] = session_id
                        self._fanout.publish(session_id, await seqs.next(), orjson.dumps(delta))
        except Exception as exc:  # noqa: BLE001 - every failure of the model call ends the run as an error
            message = getattr(exc, "message", None) or f"model call failed: {type(exc).__name__}"
            await self._finish(handle, run, StopReason.ERROR, usage, started, error=str(message))
            return
        reply = AppendAssistantMessage(
            session_id=session_id, content="".join(parts), agent=run.agent, subject=handle.subject
        )
        await self._execute(handle, reply)
        await self._finish(handle, run, StopReason.COMPLETED, usage, started)

    async def _finish(
        self,
        handle: TurnHandle,
        run: Run,
        reason: StopReason,
        usage: dict[str, Any] | None,
        started: float,
        error: str | None = None,
    ) -> None:
        finish = FinishRun(
            session_id=run.session_id,
            run_id=run.id,
            stop_reason=reason,
            model=self._model,
            usage=usage or {},
            duration_ms=int((time.perf_counter() - started) * 1000),
            error=error,
            error_code="llm_error" if error else None,
            subject=handle.subject,
        )
        await self._execute(handle, finish)
