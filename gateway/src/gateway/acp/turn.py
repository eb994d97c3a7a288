"""One ``session/prompt``: the frames it posts to the runtime, the tools and questions it takes to the client,
until the runtime's turn reaches an end the prompt can answer with a ``stopReason``.

The runtime stops at every point where it waits for the client (``done`` with ``tool_call``, ``approval`` or
``plan_approval``). The turn answers each on the client (run the tool through ``fs/*``/``terminal/*``, ask
``session/request_permission``) and posts the answer as the next frame, whose stream it relays in turn, until a
``done`` that ends the turn: ``completed``/``question`` → ``end_turn`` (``max_tokens`` or ``refusal`` when its
``model_finish`` says the model was cut off at its token limit or refused by the provider), ``cancelled`` →
``cancelled``, ``error`` → ``max_turn_requests`` when the loop guard stopped it, else ``end_turn`` (the error's text
was shown).

Cancellation (``session/cancel``): the turn posts the runtime's ``cancel`` once, stops waiting for the client, lets
the running stream end (its updates are flushed), and answers ``cancelled``.

``resume`` continues a turn a dropped connection left (``codelab-acp`` reconnecting): it follows the session's
event log after the last seq the client saw and acts on each wait that is still open.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

from gateway.acp import permissions, tool_calls
from gateway.acp.json_values import as_list, as_object
from gateway.acp.session import AcpSession
from gateway.runtime_client import ChunkStream, RuntimeRefused, RuntimeUnavailable

T = TypeVar("T")
LOOP_GUARD_CODES = frozenset({"max_tool_rounds", "repeated_call"})
ENDS = {"completed": "end_turn", "question": "end_turn", "cancelled": "cancelled"}
CUT_OFF = {"length": "max_tokens", "content_filter": "refusal"}  # a done's model_finish → stopReason
WAITS = frozenset({"tool_call", "approval", "plan_approval"})


class TurnCancelled(Exception):
    """The client cancelled while the turn waited on it."""


@dataclass(slots=True)
class Stretch:
    """What the chunks since the last ``done`` said: the newest tool call, plan and error code."""

    call: dict[str, Any] | None = None
    plan: dict[str, Any] | None = None
    error_code: str | None = None
    chunks: int = field(default=0)

    def note(self, data: dict[str, Any]) -> None:
        kind = data.get("type")
        if kind == "tool_call":
            self.call = data
        elif kind == "plan_approval_required":
            self.plan = data
        elif kind == "error":
            metadata = data.get("metadata")
            self.error_code = metadata.get("code") if isinstance(metadata, dict) else None


class Turn:
    def __init__(self, session: AcpSession) -> None:
        self.session = session
        self.cancelled = False
        self._interrupt: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._posting = asyncio.Lock()

    # cancellation ----------------------------------------------------------------------------------------------

    def request_cancel(self) -> bool:
        """Mark the turn cancelled; True the first time (the caller then runs ``post_cancel``)."""
        if self.cancelled:
            return False
        self.cancelled = True
        if not self._interrupt.done():
            self._interrupt.set_result(None)
        return True

    async def post_cancel(self) -> None:
        """The runtime's ``cancel``, after any frame being posted (so it cannot overtake the prompt itself)."""
        async with self._posting:
            stream = await self.session.open({"type": "cancel"})
        await _drain(stream)

    async def _unless_cancelled(self, work: Awaitable[T]) -> T:
        task: asyncio.Future[T] = asyncio.ensure_future(work)
        waiting: set[asyncio.Future[Any]] = {task, self._interrupt}
        try:
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not task.done():
                task.cancel()
        if not task.done() or task.cancelled():
            raise TurnCancelled
        return task.result()

    # the turn --------------------------------------------------------------------------------------------------

    async def run(self, frame: dict[str, Any], *, again: bool = False) -> str:
        """Post ``frame`` (the user's message) and drive the turn to its end; the ``stopReason``.

        ``again``: the message was posted before, by a connection that dropped (its ``client_message_id`` makes the
        runtime answer with the original run, or 409 while that still runs): what the old connection already
        answered is not answered twice, and the rest of the turn is followed in the session's log."""
        next_frame: dict[str, Any] | None = frame
        while next_frame is not None:
            async with self._posting:
                if self.cancelled:
                    return "cancelled"
                try:
                    stream = await self.session.open(next_frame)
                except RuntimeRefused as exc:
                    if again and exc.status == 409:  # still running: follow it
                        return await self.resume(self.session.last_seq)
                    raise
            stretch, done = await self._relay(stream)
            try:
                ending = await self._after(done, stretch, check_outstanding=again)
            except TurnCancelled:
                return "cancelled"
            if isinstance(ending, str):
                return "cancelled" if self.cancelled else ending
            if ending is None and again:  # the old connection answered that wait: the turn went on in the log
                return await self.resume(self.session.last_seq)
            next_frame, again = ending, False
        return "end_turn"

    async def resume(self, after: int) -> str:
        """Continue the session's turn from its event log after seq ``after``; the ``stopReason``."""
        session = self.session
        session.last_seq = max(session.last_seq, after)
        stream = await session.link.runtime.open_events(session.id, after, session.link.subject)
        stretch = Stretch()
        chunks = stream.chunks()
        try:
            while True:
                try:  # the log stays open after the turn: a cancel must not wait for a chunk that may never come
                    chunk = await self._unless_cancelled(anext(chunks))
                except TurnCancelled:
                    return "cancelled"
                except StopAsyncIteration:
                    break
                if not await session.relay(chunk.data, chunk.seq, chunk.received_at):
                    continue
                stretch.note(chunk.data)
                if chunk.data.get("type") != "done":
                    continue
                try:
                    ending = await self._after(chunk.data, stretch, check_outstanding=True)
                except TurnCancelled:
                    return "cancelled"
                stretch = Stretch()
                if isinstance(ending, str):
                    return "cancelled" if self.cancelled else ending
                if ending is not None:
                    async with self._posting:
                        posted = await session.open(ending)
                    await _drain(posted)  # its chunks come through the log we follow
        finally:
            stream.close()
        raise RuntimeUnavailable("the runtime's event stream ended before the turn did", 502)

    async def _relay(self, stream: ChunkStream) -> tuple[Stretch, dict[str, Any]]:
        stretch, done = Stretch(), None
        session = self.session
        try:
            async for chunk in stream.chunks():
                data = chunk.data
                await session.relay(data, chunk.seq, chunk.received_at)
                stretch.note(data)
                if data.get("type") == "done":
                    done = data
        finally:
            stream.close()
        if done is None:
            raise RuntimeUnavailable("the runtime's stream ended without done", 502)
        return stretch, done

    async def _after(
        self, done: dict[str, Any], stretch: Stretch, *, check_outstanding: bool
    ) -> str | dict[str, Any] | None:
        """The ``stopReason`` when the turn ends here; else the next frame (None: nothing left to answer)."""
        reason = str(done.get("stop_reason") or "completed")
        if reason in ("tool_call", "approval"):
            call = stretch.call if not check_outstanding else None
            if call is None or bool(call.get("requires_approval")) != (reason == "approval"):
                call = await self._outstanding_call()
            if call is None:
                return None if check_outstanding else "end_turn"
            return await self._answer_call(call)
        if reason == "plan_approval":
            plan = stretch.plan if not check_outstanding else None
            plan = plan or await self._pending_plan()
            if plan is None:
                return None if check_outstanding else "end_turn"
            return await self._decide_plan(plan)
        if reason == "error":
            return "max_turn_requests" if stretch.error_code in LOOP_GUARD_CODES else "end_turn"
        if reason == "completed" and done.get("model_finish") in CUT_OFF:
            return CUT_OFF[str(done["model_finish"])]
        return ENDS.get(reason, "end_turn")

    # waits -----------------------------------------------------------------------------------------------------

    async def _outstanding_call(self) -> dict[str, Any] | None:
        """The tool call the runtime waits for (calls go out one at a time), if any."""
        answer = await self.session.link.rest(
            "GET", f"/sessions/{quote(self.session.id, safe='')}/outstanding-tool-calls"
        )
        calls = [call for call in as_list(answer.get("tool_calls")) if isinstance(call, dict)]
        return calls[0] if calls else None

    async def _pending_plan(self) -> dict[str, Any] | None:
        """The plan awaiting approval, shaped like ``plan_approval_required`` (from the pending approvals)."""
        answer = await self.session.link.rest("GET", f"/sessions/{quote(self.session.id, safe='')}/pending-approvals")
        for item in as_list(answer.get("pending_approvals")):
            if isinstance(item, dict) and item.get("kind") == "plan":
                arguments = as_object(item.get("arguments"))
                summary = {"goal": arguments.get("goal", ""), "subtasks": as_list(arguments.get("subtasks"))}
                return {**item, "plan_summary": summary}
        return None

    async def _answer_call(self, call: dict[str, Any]) -> dict[str, Any]:
        call_id, name = str(call.get("call_id")), str(call.get("tool_name"))
        arguments = as_object(call.get("arguments"))
        diff = await self._diff(name, arguments)
        if call.get("requires_approval"):
            option = await self._ask(call_id, name, arguments, diff)
            if option in (permissions.REJECT_ONCE, permissions.REJECT_ALWAYS):
                outcome = "rejected" if option == permissions.REJECT_ONCE else "rejected (always, for this session)"
                await self.session.notify(
                    tool_calls.finished(call_id, "failed", [tool_calls.text(f"The user {outcome}.")])
                )
                always = option == permissions.REJECT_ALWAYS  # the runtime refuses that call from then on
                return {"type": "hitl_decision", "call_id": call_id, "decision": "reject", "always": always}
            if option == permissions.ALLOW_ALWAYS:  # the runtime remembers it (stored with the session)
                await self._post_aside(
                    {"type": "hitl_decision", "call_id": call_id, "decision": "approve", "always": True}
                )
        return await self._run_tool(call_id, name, arguments, diff)

    async def _post_aside(self, frame: dict[str, Any]) -> None:
        """A frame that only informs the runtime (its chunks come again with the next frame's or in the log)."""
        async with self._posting:
            stream = await self.session.open(frame)
        await _drain(stream)

    async def _diff(self, name: str, arguments: dict[str, Any]) -> list[dict[str, Any]]:
        """What a ``write_file`` changes, shown when it asks and when it is done (nothing for other tools)."""
        if name != "write_file":
            return []
        old = await self._unless_cancelled(self.session.tools.old_text(arguments))
        return tool_calls.write_diff(arguments, self.session.workspace, old)

    async def _run_tool(
        self, call_id: str, name: str, arguments: dict[str, Any], shown: list[dict[str, Any]]
    ) -> dict[str, Any]:
        session = self.session

        async def progress(fields: dict[str, Any]) -> None:
            await session.notify({"sessionUpdate": "tool_call_update", "toolCallId": call_id, **fields})

        await progress({"status": "in_progress"})
        try:
            outcome = await self._unless_cancelled(session.tools.run(name, arguments, progress))
        except TurnCancelled:
            await session.notify(tool_calls.finished(call_id, "failed", [tool_calls.text("Cancelled.")]))
            raise
        if outcome.error is not None:
            content = [*outcome.content, tool_calls.text(outcome.error)]
            await session.notify(tool_calls.finished(call_id, "failed", content))
            return {"type": "tool_result", "call_id": call_id, "tool_name": name, "error": outcome.error}
        await session.notify(tool_calls.finished(call_id, "completed", shown or outcome.content))
        return {"type": "tool_result", "call_id": call_id, "tool_name": name, "result": outcome.result}

    async def _ask(self, call_id: str, name: str, arguments: dict[str, Any], diff: list[dict[str, Any]]) -> str:
        """The user's answer to a gated call ("always" answers are the runtime's to remember: it no longer asks)."""
        shown = tool_calls.started(call_id, name, arguments, self.session.workspace)
        del shown["sessionUpdate"]
        if diff:
            shown["content"] = diff
        return await self._permission(shown, permissions.options(permissions.may_remember(name, arguments)))

    async def _decide_plan(self, plan: dict[str, Any]) -> dict[str, Any]:
        option = await self._permission(permissions.plan_question(plan), permissions.PLAN_OPTIONS)
        return {
            "type": "plan_decision",
            "approval_request_id": str(plan.get("approval_request_id") or ""),
            "plan_id": str(plan.get("plan_id") or ""),
            "decision": "approve" if option == permissions.ALLOW_ONCE else "reject",
        }

    async def _permission(self, tool_call: dict[str, Any], options: list[dict[str, str]]) -> str:
        session = self.session
        params = {"sessionId": session.id, "toolCall": tool_call, "options": options}
        answer = await self._unless_cancelled(session.link.peer.call("session/request_permission", params))
        option = permissions.chosen(answer)
        if option is None:  # the client cancelled the question: the prompt turn is cancelled (ACP)
            if self.request_cancel():
                await self.post_cancel()
            raise TurnCancelled
        return option


async def _drain(stream: ChunkStream) -> None:
    try:
        async for _chunk in stream.chunks():
            pass
    finally:
        stream.close()
