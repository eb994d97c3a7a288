"""Plans in a run: ``create_plan`` → ``plan_approval_required``; the user's ``plan_decision``; execution of the
subtasks in dependency order, each by its agent.

The ``create_plan`` call stays open until the decision, which answers it (approve / reject / modify), so the model's
history always pairs the call with its result. An approved plan runs one subtask at a time: the subtask's agent takes
over (``agent_switched``) and gets a user message naming the step; when its turn ends with an answer the subtask is
completed and the next one starts. All of it is stored state (plan, subtask statuses, messages), so a plan waiting
for a tool result inside a subtask continues after a restart like any other run.
"""

from __future__ import annotations

from typing import Any

from agent_runtime.agents.plan_parsing import InvalidPlan, parse_plan
from agent_runtime.application.commands import CancelPlan, DecidePlan, MoveSubtask, ProposePlan
from agent_runtime.domain.approval import PLAN_TOOL_NAME, Approval, ApprovalKind
from agent_runtime.domain.message import Message, ToolCall
from agent_runtime.domain.plan import Plan, PlanStatus, Subtask, SubtaskStatus
from agent_runtime.domain.run import StopReason
from agent_runtime.runs.conversation import Conversation
from agent_runtime.runs.frames import PlanDecision
from agent_runtime.runs.services import Services, Stop


class NoPlanPending(Exception):
    """A ``plan_decision`` with no plan awaiting one."""


class PlanFlow:
    def __init__(self, services: Services) -> None:
        self._services = services

    async def propose(self, conv: Conversation, call: ToolCall, arguments: dict[str, Any]) -> Stop | None:
        try:
            parsed = parse_plan(arguments, self._services.catalogue)
        except InvalidPlan as exc:
            await conv.answer(call, f"Error: {exc.message}")
            return None
        content = (
            f"Plan: {parsed.goal} — {len(parsed.subtasks)} subtasks, about {parsed.summary['total_estimated_time']}."
        )
        propose = ProposePlan(
            session_id=conv.session.id,
            call_id=call.id,
            goal=parsed.goal,
            subtasks=parsed.subtasks,
            arguments=arguments,
            summary=parsed.summary,
            content=content,
        )
        await conv.step.execute(propose)
        return Stop(StopReason.PLAN_APPROVAL)

    async def pending(self, conv: Conversation, decision: PlanDecision) -> Approval:
        """The plan approval a decision targets: by its id, else by plan id, else the session's pending one (the
        IDE sends ``""`` when it lacked the ids)."""
        approvals = [a for a in await conv.step.uow.approvals.pending(conv.session.id) if a.kind is ApprovalKind.PLAN]
        for approval in approvals:
            if decision.approval_request_id in (None, approval.id) and decision.plan_id in (None, approval.plan_id):
                return approval
        raise NoPlanPending("no plan in this session awaits a decision")

    async def decide(self, conv: Conversation, approval: Approval, decision: PlanDecision) -> Stop | None:
        call = ToolCall(approval.call_id, PLAN_TOOL_NAME, {})
        feedback = decision.feedback
        approve, revise = decision.decision == "approve", decision.decision == "modify"
        decide = DecidePlan(
            session_id=conv.session.id, approval_id=approval.id, approve=approve, feedback=feedback, revise=revise
        )
        plan: Plan = await conv.step.execute(decide)
        if approve:
            await conv.answer(call, "The user approved the plan. Its subtasks run now, one at a time.")
            return await self._start_next(conv, plan)
        said = f": {feedback}" if feedback else "."
        if revise:
            await conv.answer(call, f"The user wants the plan changed{said} Propose a revised plan with create_plan.")
            return None
        await conv.answer(call, f"Error: the user rejected the plan{said}")
        return Stop(StopReason.COMPLETED)

    async def after_turn(self, conv: Conversation) -> Stop | None:
        """The turn ended with an answer: complete the running subtask and start the next, or end the run."""
        plan = await conv.active_plan()
        if plan is None or plan.status is not PlanStatus.IN_PROGRESS:
            return Stop(StopReason.COMPLETED)
        running = next((s for s in plan.subtasks if s.status is SubtaskStatus.IN_PROGRESS), None)
        if running is not None:
            plan = await self._move(conv, plan, running, SubtaskStatus.COMPLETED)
        if _finished(plan):
            return Stop(StopReason.COMPLETED)
        return await self._start_next(conv, plan)

    async def cancel(self, conv: Conversation, plan_id: str | None) -> None:
        if plan_id:
            await conv.step.execute(CancelPlan(session_id=conv.session.id, plan_id=plan_id))

    async def _start_next(self, conv: Conversation, plan: Plan) -> Stop | None:
        step = conv.step
        subtask = plan.next_subtask()
        if subtask is None:
            return Stop(StopReason.COMPLETED)
        plan = await self._move(conv, plan, subtask, SubtaskStatus.IN_PROGRESS)
        position = plan.position(subtask.id)
        if subtask.agent != conv.agent_id and subtask.agent in self._services.catalogue:
            await conv.switch(subtask.agent, f"plan subtask {position}")
        text = f"[Plan step {position}] {subtask.description}\n\n(Plan goal: {plan.goal})"
        await conv.append(Message(role="user", content=text, created_at=step.now))
        return None

    @staticmethod
    async def _move(conv: Conversation, plan: Plan, subtask: Subtask, status: SubtaskStatus) -> Plan:
        """Move ``subtask``; returns the plan as the move left it."""
        move = MoveSubtask(session_id=conv.session.id, plan_id=plan.id, subtask_id=subtask.id, status=status)
        moved: Plan = await conv.step.execute(move)
        return moved


def _finished(plan: Plan) -> bool:
    # A separate function because mypy narrows ``plan.status`` above and cannot see move_subtask change it.
    return plan.status is PlanStatus.COMPLETED
