"""Driving one exchange with the gateway to its end, doing what the IDE does with each frame.

Each frame the client sends that reaches the runtime (``user_message``, ``tool_result``, ``hitl_decision``,
``plan_decision``, ``switch_agent``) opens one runtime stream, and each stream ends with its ``done``
(or, when the gateway refuses the frame, with a connection-level ``error`` that carries no ``seq``). An exchange
is over when every stream it opened has ended. The stop reason does not decide it: a ``hitl_decision`` stream may
end ``completed`` while the ``tool_result`` sent right after it still has a reply to stream. ``cancel`` is not
counted: its own stream may be empty; the cancelled run's ``done{cancelled}`` closes the stream it belongs to.

A frame the gateway could not hand to the runtime (an ``error`` with ``metadata.code: runtime_unavailable``: the
runtime is down or restarting) was not delivered: it is kept and sent again with backoff (a ``user_message`` keeps
its ``client_message_id``, so it runs once), until the runtime takes it or the person stops waiting.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import orjson

from codelab_chat.decisions import Decider
from codelab_chat.link import LinkClosed, ReconnectPolicy, SessionLink
from codelab_chat.tools.executor import ToolExecutor
from codelab_chat.transcript import ToolRun, Turn
from codelab_chat.views import View

Frame = dict[str, Any]
# After ``agent_switched`` answers a ``switch_agent``, wait this long for a ``done`` a gateway might not send.
_SWITCH_SETTLE_SECONDS = 2.0
UNDELIVERED = "runtime_unavailable"  # the gateway's error code for a frame the runtime could not be reached for
FOLLOW_FAILED = "follow_failed"  # the gateway's live follow-up after a resume ended: news, no stream of ours ends


class ExchangeTimeout(Exception):
    """No frame arrived for ``idle_timeout`` seconds while the exchange was still open."""


class Conversation:
    """One session seen from the terminal: sends the user's frames and answers the agent's."""

    def __init__(
        self,
        link: SessionLink,
        executor: ToolExecutor,
        decider: Decider,
        view: View,
        *,
        idle_timeout: float = 600.0,
        resend: ReconnectPolicy | None = None,
    ) -> None:
        self.link = link
        self.executor = executor
        self.decider = decider
        self.view = view
        self.idle_timeout = idle_timeout
        self.resend = resend or link.policy  # how often an undelivered frame is sent again
        self._answered: set[str] = set()
        self._open_streams = 0
        self._unconfirmed: list[Frame] = []  # sent, and no frame with a seq arrived since
        self._resend_delays: Iterator[float] | None = None

    async def say(self, content: str, agent_type: str | None = None) -> Turn:
        """Send a user message and run the turn to its end (tools executed, approvals and plans answered)."""
        frame: Frame = {"type": "user_message", "content": content, "client_message_id": uuid.uuid4().hex}
        if agent_type:
            frame["agent_type"] = agent_type
        return await self.exchange(frame)

    async def switch_agent(self, agent_type: str) -> Turn:
        """Ask the gateway to hand the session to another agent."""
        return await self.exchange({"type": "switch_agent", "agent_type": agent_type})

    async def cancel(self) -> None:
        """Cancel the running turn (its stream then ends with ``done{stop_reason: cancelled}``)."""
        await self.link.send({"type": "cancel"})

    @property
    def resending(self) -> bool:
        """True from the first undelivered frame until something of the exchange reaches the runtime: there is no
        run a ``cancel`` could stop (it would only come back undelivered too)."""
        return self._resend_delays is not None

    def abandon(self) -> list[str]:
        """Forget the frames not delivered yet (the person stopped waiting); the texts of the messages among them."""
        frames = [*self._unconfirmed, *self.link.discard_outbox()]
        self._unconfirmed.clear()
        texts = [str(f.get("content")) for f in frames if f.get("type") == "user_message"]
        return list(dict.fromkeys(texts))

    async def exchange(self, frame: Frame) -> Turn:
        """Send ``frame`` and handle what comes back until the exchange is over.

        A lost connection that cannot be resumed, or silence past ``idle_timeout``, does not raise: it ends the
        turn with ``fatal`` set and the reason in ``errors``.
        """
        turn = Turn()
        try:
            await self._drive(frame, turn)
        except (LinkClosed, ExchangeTimeout) as exc:
            turn.errors.append(str(exc))
            turn.fatal = True
        finally:
            self.view.close()
        return turn

    async def _drive(self, frame: Frame, turn: Turn) -> None:
        for earlier in await self.link.drain():
            self.view.show(earlier)  # news from between exchanges, not this frame's answer
        self._open_streams = 0
        self._unconfirmed.clear()
        self._resend_delays = None
        await self._send(frame)
        timeout = self.idle_timeout
        while self._open_streams > 0:
            try:
                incoming = await asyncio.wait_for(self.link.receive(), timeout)
            except TimeoutError as exc:
                if timeout == _SWITCH_SETTLE_SECONDS:
                    break
                raise ExchangeTimeout(f"no frame from the gateway for {self.idle_timeout:g} s") from exc
            if frame["type"] == "switch_agent" and incoming.get("type") == "agent_switched":
                timeout = _SWITCH_SETTLE_SECONDS
            if "seq" in incoming:
                self._unconfirmed.clear()
                self._resend_delays = None
            elif _is_undelivered(incoming) and self._unconfirmed and await self._resend_later(incoming):
                continue
            turn.frames.append(incoming)
            self.view.show(incoming)
            await self._handle(incoming, turn)

    async def _send(self, frame: Frame) -> None:
        self._open_streams += 1
        self._unconfirmed.append(frame)
        await self.link.send(frame)
        self.view.busy("waiting for the agent…")

    async def _resend_later(self, error: Frame) -> bool:
        """The oldest unconfirmed frame did not reach the runtime: wait, then send it again. False when the policy's
        attempts are spent (the error then ends that stream like any other)."""
        first = self._resend_delays is None
        if first:
            self._resend_delays = self.resend.delays()
        assert self._resend_delays is not None
        delay = next(self._resend_delays, None)
        if delay is None:
            return False
        frame = self._unconfirmed[0]  # stays listed while it waits: Ctrl-C then gives it back (abandon)
        self._open_streams -= 1
        what = "your message" if frame.get("type") == "user_message" else f"the {frame.get('type')}"
        reason = str(error.get("content") or "the agent runtime is unavailable")
        if first:
            self.view.notice(
                f"{reason}; {what} is kept and sent again when the runtime is back (Ctrl-C to stop waiting)"
            )
        self.view.busy(f"agent runtime unavailable; trying again in {delay:.1f} s…")
        await asyncio.sleep(delay)
        self._unconfirmed.pop(0)
        await self._send(frame)
        return True

    async def _handle(self, frame: Frame, turn: Turn) -> None:
        kind = frame.get("type")
        if kind == "assistant_message" and frame.get("is_final") is not False:
            content = frame.get("content")
            turn.messages.append(content if isinstance(content, str) else "")
        elif kind == "tool_call":
            await self._tool_call(frame, turn)
        elif kind == "plan_approval_required":
            await self._plan(frame, turn)
        elif kind == "error":
            turn.errors.append(str(frame.get("content") or frame.get("error") or "error"))
            if "seq" not in frame and _code(frame) != FOLLOW_FAILED:
                self._open_streams -= 1
        elif kind == "done":
            self._open_streams -= 1
            turn.stop_reasons.append(str(frame.get("stop_reason") or "unknown"))
            turn.usage = frame.get("usage") if isinstance(frame.get("usage"), dict) else turn.usage

    async def _tool_call(self, frame: Frame, turn: Turn) -> None:
        call_id, tool_name = frame.get("call_id"), frame.get("tool_name")
        if not isinstance(call_id, str) or not isinstance(tool_name, str) or call_id in self._answered:
            return
        self._answered.add(call_id)
        arguments = frame.get("arguments") if isinstance(frame.get("arguments"), dict) else {}
        run = ToolRun(call_id, tool_name, dict(arguments or {}), "auto")
        if frame.get("requires_approval") is not True or await self._approved(frame, run):
            await self._execute(run)
        turn.tool_runs.append(run)
        self.view.tool_ran(run)

    async def _approved(self, frame: Frame, run: ToolRun) -> bool:
        """Ask, send the ``hitl_decision``; True when the (possibly edited) call is to be executed."""
        decision = await self.decider.decide_tool(frame)
        run.decision = decision.decision
        hitl: Frame = {"type": "hitl_decision", "call_id": run.call_id, "decision": decision.decision}
        if decision.decision == "edit" and decision.arguments is not None:
            hitl["modified_arguments"] = decision.arguments
            run.arguments = decision.arguments
        if decision.feedback:
            hitl["feedback"] = decision.feedback
        await self._send(hitl)
        if decision.decision == "reject":
            run.error = decision.feedback or "rejected"
            return False
        return True

    async def _execute(self, run: ToolRun) -> None:
        self.view.busy(f"running {run.tool_name}…")
        outcome = await self.executor.execute(run.tool_name, run.arguments)
        run.result, run.error = outcome.result, outcome.error
        reply: Frame = {"type": "tool_result", "call_id": run.call_id, "tool_name": run.tool_name}
        reply.update({"result": outcome.result} if outcome.error is None else {"error": outcome.error})
        size = len(orjson.dumps(reply))
        if size > self.executor.limits.max_result_bytes:
            # An oversized frame would make the gateway close the socket (1009); tell the agent to narrow the call.
            run.result, run.error = None, f"Result too large to send ({size} bytes); narrow the request"
            reply = {"type": "tool_result", "call_id": run.call_id, "tool_name": run.tool_name, "error": run.error}
        await self._send(reply)

    async def _plan(self, frame: Frame, turn: Turn) -> None:
        decision = await self.decider.decide_plan(frame)
        reply: Frame = {
            "type": "plan_decision",
            "approval_request_id": str(frame.get("approval_request_id") or ""),
            "plan_id": str(frame.get("plan_id") or ""),
            "decision": decision.decision,
        }
        if decision.feedback:
            reply["feedback"] = decision.feedback
        turn.plan_decisions.append(decision.decision)
        await self._send(reply)


def _code(frame: Frame) -> object:
    metadata = frame.get("metadata")
    return metadata.get("code") if isinstance(metadata, dict) else None


def _is_undelivered(frame: Frame) -> bool:
    return frame.get("type") == "error" and _code(frame) == UNDELIVERED
