"""The commands that change what a run waits on: tool calls handed to the client and the approvals that gate them
(a gated call's result is also its decision). The approval state machine is ``domain/approval.py``; what needs approval,
``guardrails/approval_policy.py``."""

from __future__ import annotations

from typing import Any

from agent_runtime.application import chunks
from agent_runtime.application.command_bus import HandlerContext
from agent_runtime.application.commands import (
    AbandonToolCall,
    CancelPlan,
    DecideApproval,
    EditToolCall,
    ExpireApproval,
    IssueToolCall,
    RecordToolResult,
    RefuseToolCall,
)
from agent_runtime.domain.approval import Approval, ApprovalKind, Decision
from agent_runtime.domain.errors import Conflict, NotFound
from agent_runtime.domain.tool_call import IssuedToolCall


async def refuse_tool_call(command: RefuseToolCall, ctx: HandlerContext) -> None:
    """Log the refusal the person sees; the model gets the reason as the call's result (an AppendMessage)."""
    session = await ctx.session(command.session_id)
    chunk = chunks.tool_refused(command.call_id, command.tool_name, command.arguments, command.reason, command.rule)
    await ctx.log(session.id, chunk)


async def issue_tool_call(command: IssueToolCall, ctx: HandlerContext) -> IssuedToolCall:
    """Hand a call to the IDE (logged as a ``tool_call`` chunk); a gated call also opens an approval."""
    session = await ctx.session(command.session_id)
    if await ctx.uow.tool_calls.get(session.id, command.call_id) is not None:
        raise Conflict(f"tool call {command.call_id} was already issued", code="duplicate_call")
    approval_id = None
    if command.requires_approval:
        if await ctx.uow.approvals.pending(session.id):
            # The IDE tracks one approval banner only: a second gated call would orphan the first.
            raise Conflict("another approval is still pending in this session", code="approval_pending")
        approval_id = await _request_approval(
            ctx, session.id, command.call_id, command.tool_name, command.arguments, command.reason
        )
    call = IssuedToolCall.issue(
        call_id=command.call_id,
        session_id=session.id,
        tool_name=command.tool_name,
        arguments=command.arguments,
        requires_approval=command.requires_approval,
        created_at=ctx.now,
        run_id=command.run_id,
        approval_id=approval_id,
    )
    await ctx.uow.tool_calls.add(call)
    ctx.collect(call)
    await ctx.log(session.id, chunks.tool_call(call.call_id, call.tool_name, call.arguments, approval_id))
    return call


async def record_tool_result(command: RecordToolResult, ctx: HandlerContext) -> Approval | None:
    """The client's answer to an outstanding call. For a gated call it is also the decision (a result approves, an
    error rejects with the error as feedback), because the IDE answers an approval banner that way. Returns the
    call's approval (None for an ungated call); an unknown call is 404, an answered one 409."""
    session = await ctx.session(command.session_id)
    call = await ctx.uow.tool_calls.get(session.id, command.call_id)
    if call is None:
        raise NotFound(f"no tool call {command.call_id} in session {session.id}", code="unknown_call")
    if not call.is_outstanding:
        raise Conflict(f"tool call {command.call_id} already has its result", code="duplicate_tool_result")
    approval = await ctx.uow.approvals.for_call(session.id, call.call_id)
    if approval is not None and approval.is_pending:
        decision = Decision.REJECT if command.error is not None else Decision.APPROVE
        approval.decide(decision, now=ctx.now, feedback=command.error)
        await ctx.uow.approvals.save(approval)
        ctx.collect(approval)
    call.complete(result=command.result, error=command.error, now=ctx.now)
    await ctx.uow.tool_calls.save(call)
    ctx.collect(call)
    return approval


async def decide_approval(command: DecideApproval, ctx: HandlerContext) -> Approval:
    session = await ctx.session(command.session_id)
    approval = await ctx.uow.approvals.for_call(session.id, command.call_id)
    if approval is None:
        approval = await ctx.uow.approvals.get(command.call_id)  # an approval_request_id works too
    if approval is None or approval.session_id != session.id:
        raise NotFound(f"no approval for {command.call_id} in session {session.id}", code="unknown_approval")
    approval.decide(
        command.decision, now=ctx.now, modified_arguments=command.modified_arguments, feedback=command.feedback
    )
    await ctx.uow.approvals.save(approval)
    ctx.collect(approval)
    return approval


async def edit_tool_call(command: EditToolCall, ctx: HandlerContext) -> str | None:
    """The edited call goes out again; returns the id of the approval it now waits on (None: it is approved)."""
    session = await ctx.session(command.session_id)
    call = await ctx.uow.tool_calls.get(session.id, command.call_id)
    approval = await ctx.uow.approvals.for_call(session.id, command.call_id)
    if call is None or approval is None or not approval.is_pending:
        raise Conflict(f"the call {command.call_id} does not await a decision", code="no_pending_decision")
    approval.decide(Decision.EDIT, now=ctx.now, modified_arguments=command.arguments)
    await ctx.uow.approvals.save(approval)
    ctx.collect(approval)
    call.arguments = command.arguments
    approval_id = None
    if command.ask_again is not None:
        approval_id = call.approval_id = await _request_approval(
            ctx, session.id, call.call_id, call.tool_name, command.arguments, command.ask_again
        )
    await ctx.uow.tool_calls.save(call)
    await ctx.log(session.id, chunks.tool_call(call.call_id, call.tool_name, command.arguments, approval_id))
    return approval_id


async def abandon_tool_call(command: AbandonToolCall, ctx: HandlerContext) -> None:
    session = await ctx.session(command.session_id)
    approval = await ctx.uow.approvals.for_call(session.id, command.call_id)
    if approval is not None and approval.is_pending:
        approval.decide(Decision.REJECT, now=ctx.now, feedback=command.reason)
        await ctx.uow.approvals.save(approval)
        ctx.collect(approval)
        if approval.plan_id is not None:
            await ctx.execute(CancelPlan(session_id=session.id, plan_id=approval.plan_id))
    await _end_call(ctx, session.id, command.call_id, command.reason)


async def expire_approval(command: ExpireApproval, ctx: HandlerContext) -> Approval:
    """Returns the expired approval (404 when it is not this session's, 409 when it was already decided)."""
    session = await ctx.session(command.session_id)
    approval = await ctx.uow.approvals.get(command.approval_id)
    if approval is None or approval.session_id != session.id:
        raise NotFound(f"no approval {command.approval_id} in session {session.id}", code="unknown_approval")
    if not approval.is_pending:
        raise Conflict(f"approval {command.approval_id} was already decided", code="no_pending_decision")
    approval.expire(ctx.now)
    await ctx.uow.approvals.save(approval)
    ctx.collect(approval)
    await _end_call(ctx, session.id, approval.call_id, "the approval expired")
    if approval.kind is ApprovalKind.PLAN and approval.plan_id is not None:
        await ctx.execute(CancelPlan(session_id=session.id, plan_id=approval.plan_id))
    return approval


async def _end_call(ctx: HandlerContext, session_id: str, call_id: str, error: str) -> None:
    """An outstanding call ends with ``error`` (the IDE will not run it); an answered or unknown one stays."""
    call = await ctx.uow.tool_calls.get(session_id, call_id)
    if call is not None and call.is_outstanding:
        call.complete(result=None, error=error, now=ctx.now)
        await ctx.uow.tool_calls.save(call)
        ctx.collect(call)


async def _request_approval(
    ctx: HandlerContext, session_id: str, call_id: str, tool_name: str, arguments: dict[str, Any], reason: str | None
) -> str:
    """Open an approval for a tool call; returns its id."""
    approval = Approval.request(
        id=ctx.new_id(),
        session_id=session_id,
        kind=ApprovalKind.TOOL,
        call_id=call_id,
        tool_name=tool_name,
        arguments=arguments,
        reason=reason,
        created_at=ctx.now,
    )
    await ctx.uow.approvals.add(approval)
    ctx.collect(approval)
    return approval.id
