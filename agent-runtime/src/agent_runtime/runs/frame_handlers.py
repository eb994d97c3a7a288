"""What each IDE frame does to a session's run. One handler per frame type; each either stops at once (its
``done`` logged with the state change), continues the run through the agent loop, or changes nothing (a duplicate
tool result, a decision nobody waits for): then it answers with a ``status`` and a ``done`` that are not logged.
The internal ``ExpireApprovals`` frame (the approval sweeper's) that finds nothing left to expire sends nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from agent_runtime.agents.routing import agent_for_message
from agent_runtime.application import chunks
from agent_runtime.application.command_bus import Origin
from agent_runtime.application.commands import ConsumeQueuedMessage, RefuseFrame, RegisterClientMessage, StartRun
from agent_runtime.domain.message import Message
from agent_runtime.domain.plan import PlanStatus
from agent_runtime.domain.run import StopReason
from agent_runtime.runs.conversation import USER_SWITCH_REASON, Conversation
from agent_runtime.runs.dispatch import Dispatcher
from agent_runtime.runs.expiry import expire_stale
from agent_runtime.runs.frames import (
    Cancel,
    ExpireApprovals,
    Frame,
    HitlDecision,
    PlanDecision,
    SwitchAgent,
    ToolResult,
    UserMessage,
)
from agent_runtime.runs.plan_flow import NoPlanPending, PlanFlow
from agent_runtime.runs.services import RunState, Services, Stop
from agent_runtime.runs.turn import Turns

Resolve = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class Continue:
    """The frame changed what the turn waits for: the turn goes on (the next open call, or the model)."""


@dataclass(frozen=True, slots=True)
class Quiet:
    """Nothing changed: the request is answered with ``notice`` (if any) and a ``done`` that is not logged."""

    reason: StopReason | None = None  # None: whatever the session waits for now
    notice: str | None = None
    code: str | None = None
    silent: bool = False  # nobody asked (the sweeper): not even the done goes out


SILENT = Quiet(silent=True)


Outcome = Stop | Quiet | Continue


class FrameHandlers:
    def __init__(self, services: Services, turns: Turns, dispatcher: Dispatcher, plans: PlanFlow) -> None:
        self._services = services
        self._turns = turns
        self._dispatcher = dispatcher
        self._plans = plans

    async def handle(self, session_id: str, frame: Frame, origin: Origin, resolve: Resolve) -> None:
        """Process one frame to its stop point; ``resolve`` gets the seq of the ``done`` that ends it."""
        if isinstance(frame, UserMessage):
            await self._user_message(session_id, frame, origin, resolve)
            return
        commands = self._services.commands
        async with commands.step(session_id, origin) as step:
            conv = await Conversation.load(step, self._services.history)
            expired = await self._expire_stale(conv)
            outcome = await self._frame(conv, frame, expired)
            if isinstance(outcome, Quiet):
                reason = outcome.reason or await self._current(conv)
            else:
                turn = self._turns.begin(await self._start_run(conv, origin), resolve)
                request = await turn.prepare(conv, outcome if isinstance(outcome, Stop) else None)
        if isinstance(outcome, Quiet):
            await self._quiet(session_id, reason, outcome, resolve)
        elif request is not None:
            await turn.drive(request)

    async def _frame(self, conv: Conversation, frame: Frame, expired: int) -> Outcome:
        if isinstance(frame, ToolResult):
            return await self._tool_result(conv, frame)
        if isinstance(frame, HitlDecision):
            return await self._hitl_decision(conv, frame)
        if isinstance(frame, PlanDecision):
            return await self._plan_decision(conv, frame)
        if isinstance(frame, SwitchAgent):
            return await self._switch_agent(conv, frame)
        if isinstance(frame, ExpireApprovals):
            return await self._expired(conv) if expired else SILENT
        assert isinstance(frame, Cancel)
        return await self._cancel(conv)

    async def _user_message(self, session_id: str, frame: UserMessage, origin: Origin, resolve: Resolve) -> None:
        commands = self._services.commands
        async with commands.step(session_id, origin) as step:
            if frame.inbox_id is not None:
                await step.execute(ConsumeQueuedMessage(session_id=session_id, entry_id=frame.inbox_id))
            conv = await Conversation.load(step, self._services.history)
            if frame.client_message_id is not None:  # first: the answer's chunks all come after this point
                register = RegisterClientMessage(
                    session_id=session_id, client_message_id=frame.client_message_id, content=frame.content
                )
                await step.execute(register)
            await self._expire_stale(conv)
            await self._dispatcher.abandon(conv, "the user sent a new message instead")
            plan = await conv.active_plan()
            decision = agent_for_message(
                self._services.catalogue,
                current_agent=conv.agent_id,
                requested_agent=frame.agent_type,
                pinned=conv.pinned,
                task_open=conv.task_open() or (plan is not None and plan.status is PlanStatus.IN_PROGRESS),
            )
            if decision is not None and decision.agent != conv.agent_id:
                if decision.method == "single_agent":
                    await conv.adopt(decision.agent)
                else:
                    reason = USER_SWITCH_REASON if decision.method == "pinned" else decision.reason
                    await conv.switch(decision.agent, reason)
            await conv.append(Message(role="user", content=frame.content, created_at=step.now))
            state = await self._start_run(conv, origin)
            state.client_message_id = frame.client_message_id
            turn = self._turns.begin(state, resolve)
            # With the agent settled, the model call is prepared in this same transaction.
            request = None if decision is None else await turn.prepare(conv)
        if decision is None:
            route = await self._services.router.route(frame.content)
            async with commands.step(session_id, origin) as step:
                conv = await Conversation.load(step, self._services.history)
                if route.agent != conv.agent_id:
                    await conv.switch(route.agent, route.reason, route.confidence)
                request = await turn.prepare(conv)
        if request is not None:
            await turn.drive(request)

    async def _tool_result(self, conv: Conversation, frame: ToolResult) -> Outcome:
        issued = await conv.step.uow.tool_calls.get(conv.session.id, frame.call_id)
        if issued is None:
            return await self._unknown_call(conv, frame.call_id)
        if not issued.is_outstanding:
            return Quiet(None, f"duplicate tool_result for {frame.call_id} ignored", "duplicate_tool_result")
        await self._dispatcher.tool_result(conv, issued, frame.result, frame.error)
        return Continue()

    async def _hitl_decision(self, conv: Conversation, frame: HitlDecision) -> Outcome:
        uow = conv.step.uow
        issued = await uow.tool_calls.get(conv.session.id, frame.call_id)
        if issued is None:
            return await self._unknown_call(conv, frame.call_id)
        approval = await uow.approvals.for_call(conv.session.id, frame.call_id)
        if approval is None or not approval.is_pending or not issued.is_outstanding:
            return Quiet(None, f"no decision is pending for {frame.call_id}", "no_pending_decision")
        decided = await self._dispatcher.decide(conv, issued, frame)
        if isinstance(decided, str):
            return await _refuse(conv, f"The edited arguments were refused: {decided}", "invalid_edit")
        return decided or Continue()

    async def _plan_decision(self, conv: Conversation, frame: PlanDecision) -> Outcome:
        try:
            approval = await self._plans.pending(conv, frame)
        except NoPlanPending as exc:
            return await _refuse(conv, str(exc), "no_pending_plan")
        return await self._plans.decide(conv, approval, frame) or Continue()

    async def _switch_agent(self, conv: Conversation, frame: SwitchAgent) -> Outcome:
        if frame.agent_type == conv.agent_id:
            return Quiet(None, f"{frame.agent_type} is already the current agent", "same_agent")
        await conv.switch(frame.agent_type, USER_SWITCH_REASON)
        return Stop(StopReason.COMPLETED)

    async def _cancel(self, conv: Conversation) -> Outcome:
        """Cancel with no turn running: give up what the session waits for (open calls, a pending or running plan)."""
        plan = await conv.active_plan()
        if not conv.open_calls() and plan is None:
            return Quiet(StopReason.CANCELLED, "nothing to cancel", "nothing_to_cancel")
        await self._dispatcher.abandon(conv, "cancelled by the user")
        if plan is not None:
            await self._plans.cancel(conv, plan.id)
        return Stop(StopReason.CANCELLED)

    async def _expired(self, conv: Conversation) -> Outcome:
        """The sweeper found approvals nobody decided in time: expire them (``_expire_stale`` at the start of every
        frame already did), close whatever else the turn left open, and end with ``error{approval_expired}``."""
        await self._dispatcher.abandon(conv, "the approval expired")
        message = "Nobody decided in time: the approval expired and its call was not run."
        return Stop(StopReason.ERROR, message, "approval_expired")

    async def _unknown_call(self, conv: Conversation, call_id: str) -> Outcome:
        message = f"Unknown call_id '{call_id}': no tool call with this id was issued in this session."
        return await _refuse(conv, message, "unknown_call_id")

    async def _current(self, conv: Conversation) -> StopReason:
        """What the session waits for now (the stop reason of a ``done`` that changed nothing)."""
        calls = conv.open_calls()
        stop = await self._dispatcher.waiting_on(conv, calls[0]) if calls else None
        return stop.reason if stop is not None else StopReason.COMPLETED

    async def _expire_stale(self, conv: Conversation) -> int:
        """With ``approval_ttl_seconds`` set, the session's approvals pending longer expire first (``expiry.py``)."""
        ttl = self._services.settings.approval_ttl_seconds
        return 0 if ttl is None else await expire_stale(conv, timedelta(seconds=ttl))

    async def _start_run(self, conv: Conversation, origin: Origin) -> RunState:
        run = await conv.step.execute(StartRun(session_id=conv.session.id, subject=origin.subject))
        return RunState(run, origin)

    async def _quiet(self, session_id: str, reason: StopReason, quiet: Quiet, resolve: Resolve) -> None:
        if quiet.silent:
            resolve(-1)
            return
        stream = self._services.stream
        if quiet.notice is not None:
            await stream.live(session_id, chunks.status(quiet.notice, code=quiet.code))
        await stream.live(session_id, chunks.done(reason.value, None), resolve)


async def _refuse(conv: Conversation, message: str, code: str) -> Outcome:
    """The frame cannot be acted on: its ``error`` is logged (``RefuseFrame``), the session waits as before."""
    await conv.step.execute(RefuseFrame(session_id=conv.session.id, message=message, code=code))
    return Quiet()
