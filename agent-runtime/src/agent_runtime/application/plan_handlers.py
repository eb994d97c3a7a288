"""Handlers for plans: proposed (``create_plan``), decided, their subtasks started and ended, cancelled."""

from __future__ import annotations

from agent_runtime.application import chunks
from agent_runtime.application.command_bus import HandlerContext
from agent_runtime.application.commands import CancelPlan, DecidePlan, MoveSubtask, ProposePlan
from agent_runtime.domain.approval import PLAN_TOOL_NAME, Approval, ApprovalKind, Decision
from agent_runtime.domain.errors import Conflict, NotFound
from agent_runtime.domain.plan import Plan, PlanStatus, SubtaskStatus


async def propose_plan(command: ProposePlan, ctx: HandlerContext) -> Approval:
    """A draft plan and its pending approval; logs ``plan_approval_required``. Returns the approval."""
    session = await ctx.session(command.session_id)
    plan = Plan.draft(
        plan_id=ctx.new_id(), session_id=session.id, goal=command.goal, subtasks=list(command.subtasks), now=ctx.now
    )
    approval = Approval.request(
        id=ctx.new_id(),
        session_id=session.id,
        kind=ApprovalKind.PLAN,
        call_id=command.call_id,
        tool_name=PLAN_TOOL_NAME,
        arguments=command.arguments,
        reason=command.goal,
        created_at=ctx.now,
        plan_id=plan.id,
    )
    await ctx.uow.plans.add(plan)
    await ctx.uow.approvals.add(approval)
    ctx.collect(plan, approval)
    await ctx.log(session.id, chunks.plan_approval_required(approval.id, plan.id, command.summary, command.content))
    return approval


async def decide_plan(command: DecidePlan, ctx: HandlerContext) -> Plan:
    """Returns the plan as the decision left it (in progress, or cancelled)."""
    session = await ctx.session(command.session_id)
    approval = await ctx.uow.approvals.get(command.approval_id)
    if approval is None or approval.session_id != session.id or approval.kind is not ApprovalKind.PLAN:
        raise NotFound(f"no plan approval {command.approval_id} in session {session.id}", code="no_pending_plan")
    if not approval.is_pending:
        raise Conflict(f"plan approval {command.approval_id} was already decided", code="no_pending_plan")
    plan = await _plan(ctx, session.id, approval.plan_id or "")
    if command.approve:
        approval.decide(Decision.APPROVE, now=ctx.now, feedback=command.feedback)
        plan.move_to(PlanStatus.APPROVED, ctx.now)
        plan.move_to(PlanStatus.IN_PROGRESS, ctx.now)
    else:
        approval.decide(Decision.REJECT, now=ctx.now, feedback=command.feedback)
        plan.move_to(PlanStatus.CANCELLED, ctx.now)
    await ctx.uow.approvals.save(approval)
    await ctx.uow.plans.save(plan)
    ctx.collect(approval, plan)
    if command.approve:
        said, status = f"Plan approved: {len(plan.subtasks)} subtasks.", "approved"
    elif command.revise:
        said, status = "Plan sent back for changes.", "modify"
    else:
        said, status = "Plan rejected.", "rejected"
    await ctx.log(session.id, chunks.plan_progress(plan.id, said, subtask_id=None, status=status))
    return plan


async def move_subtask(command: MoveSubtask, ctx: HandlerContext) -> Plan:
    """Returns the plan after the move (completed when its last subtask completed)."""
    session = await ctx.session(command.session_id)
    plan = await _plan(ctx, session.id, command.plan_id)
    plan.move_subtask(command.subtask_id, command.status, ctx.now)
    await ctx.uow.plans.save(plan)
    ctx.collect(plan)
    subtask = next(s for s in plan.subtasks if s.id == command.subtask_id)
    title = subtask.description.split("\n", 1)[0]
    if command.status is SubtaskStatus.IN_PROGRESS:
        said = f"Subtask {plan.position(subtask.id)} started ({subtask.agent}): {title}"
    elif command.status is SubtaskStatus.COMPLETED:
        said = f"Subtask {plan.position(subtask.id)} completed: {title}"
    else:
        return plan
    await ctx.log(session.id, chunks.plan_progress(plan.id, said, subtask_id=subtask.id, status=command.status.value))
    if plan.status is PlanStatus.COMPLETED:
        completed = chunks.plan_progress(plan.id, f"Plan completed: {plan.goal}", subtask_id=None, status="completed")
        await ctx.log(session.id, completed)
    return plan


async def cancel_plan(command: CancelPlan, ctx: HandlerContext) -> None:
    session = await ctx.session(command.session_id)
    plan = await ctx.uow.plans.get(command.plan_id)
    if plan is not None and plan.session_id == session.id and plan.is_open:
        plan.move_to(PlanStatus.CANCELLED, ctx.now)
        await ctx.uow.plans.save(plan)
        ctx.collect(plan)


async def _plan(ctx: HandlerContext, session_id: str, plan_id: str) -> Plan:
    plan = await ctx.uow.plans.get(plan_id)
    if plan is None or plan.session_id != session_id:
        raise NotFound(f"no plan {plan_id} in session {session_id}", code="unknown_plan")
    return plan
