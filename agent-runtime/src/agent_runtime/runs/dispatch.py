"""Tool calls of one model response: validated, checked against the agent's permissions and the approval policy,
then either handled inside the runtime (``attempt_completion``, ``ask_followup_question``, ``switch_mode``,
``create_plan``) or handed to the IDE one at a time. Also the IDE's answers: tool results and approval decisions.

A refused or invalid call is answered at once with an ``Error: …`` tool message the model reads on its next call.
Because calls go out one at a time, at most one approval-gated call is ever outstanding in a session.
"""

from __future__ import annotations

from typing import Any

import orjson

from agent_runtime.agents.client_tools import client_can_run
from agent_runtime.agents.tools import RUNTIME_TOOLS, InvalidToolCall, validate_tool_call
from agent_runtime.agents.tools import ToolCall as ValidCall
from agent_runtime.application.commands import (
    AbandonToolCall,
    DecideApproval,
    EditToolCall,
    IssueToolCall,
    RecordToolResult,
    RefuseToolCall,
    RememberRule,
)
from agent_runtime.domain.approval import EDITED_REASON, Decision
from agent_runtime.domain.message import Message, ToolCall
from agent_runtime.domain.run import StopReason
from agent_runtime.domain.tool_call import IssuedToolCall
from agent_runtime.guardrails.approval_policy import Ask, ClientContext, Deny, PolicyDecision
from agent_runtime.guardrails.permissions import Refused, check_permission
from agent_runtime.guardrails.rules import always_rule_for, session_rules
from agent_runtime.runs.conversation import PLAN_TOOL, Conversation
from agent_runtime.runs.frames import HitlDecision
from agent_runtime.runs.plan_flow import PlanFlow
from agent_runtime.runs.services import RunState, Services, Stop


def refusal_result(refusal: Refused | Deny) -> str:
    """What the model reads as the result of a refused call."""
    prefix = "refused by the server's policy: " if isinstance(refusal, Deny) else ""
    return f"Error: {prefix}{refusal.reason}"


class Dispatcher:
    def __init__(self, services: Services, plans: PlanFlow) -> None:
        self._services = services
        self._plans = plans

    async def next_stop(self, conv: Conversation, state: RunState) -> Stop | None:
        """Work through the open calls of the newest assistant message in order. A :class:`Stop` when the run must
        wait (or a runtime tool ended the turn); None when every call has its answer."""
        while calls := conv.open_calls():
            call = calls[0]
            stop = await self.waiting_on(conv, call)
            if stop is None:
                stop = await self._dispatch(conv, state, call)
            if stop is not None:
                return stop
        return None

    async def waiting_on(self, conv: Conversation, call: ToolCall) -> Stop | None:
        """The stop when ``call`` is already out (with the IDE, or a plan awaiting its decision)."""
        uow, session_id = conv.step.uow, conv.session.id
        approval = await uow.approvals.for_call(session_id, call.id)
        if call.name == PLAN_TOOL:
            return Stop(StopReason.PLAN_APPROVAL) if approval is not None and approval.is_pending else None
        issued = await uow.tool_calls.get(session_id, call.id)
        if issued is None or not issued.is_outstanding:
            return None
        return Stop(StopReason.APPROVAL if approval is not None and approval.is_pending else StopReason.TOOL_CALL)

    async def _dispatch(self, conv: Conversation, state: RunState, call: ToolCall) -> Stop | None:
        agent = self._services.agent(conv.agent_id)
        raw: str | dict[str, Any] = call.arguments
        if set(call.arguments) == {"_raw"}:  # the model's arguments were not JSON (see Message.from_openai)
            raw = str(call.arguments["_raw"])
        try:
            valid = validate_tool_call(call.name, raw)
        except InvalidToolCall as exc:
            await conv.answer(call, f"Error: {exc.message}")
            return None
        permission = check_permission(agent, valid.name, valid.arguments)
        if isinstance(permission, Refused):
            await self._refuse(conv, call.id, valid, permission)
            return None
        if not client_can_run(conv.session.client_tools, valid.name):
            unavailable = Refused(f"'{valid.name}' is not available: the user's client cannot run it.", "client_tools")
            await self._refuse(conv, call.id, valid, unavailable)
            return None
        if valid.name in RUNTIME_TOOLS:
            return await self._runtime_tool(conv, call, valid.name, valid.arguments)
        decision = self._decide(conv, agent.id, valid)
        if isinstance(decision, Deny):
            await self._refuse(conv, call.id, valid, decision)
            return None
        gated = isinstance(decision, Ask)
        command = IssueToolCall(
            session_id=conv.session.id,
            call_id=call.id,
            tool_name=valid.name,
            arguments=valid.arguments,
            requires_approval=gated,
            run_id=state.run.id,
            reason=decision.reason if isinstance(decision, Ask) else None,
            subject=conv.step.subject,
        )
        await conv.step.execute(command)
        return Stop(StopReason.APPROVAL if gated else StopReason.TOOL_CALL)

    async def _refuse(self, conv: Conversation, call_id: str, call: ValidCall, refusal: Refused | Deny) -> None:
        """The call never runs: the user sees a ``tool_refused`` chunk, the model the reason as the call's result."""
        await self._log_refusal(conv, call_id, call, refusal)
        await conv.answer(ToolCall(call_id, call.name, {}), refusal_result(refusal))

    @staticmethod
    async def _log_refusal(conv: Conversation, call_id: str, call: ValidCall, refusal: Refused | Deny) -> None:
        refuse = RefuseToolCall(
            session_id=conv.session.id, call_id=call_id, tool_name=call.name, arguments=call.arguments,
            reason=refusal.reason, rule=refusal.rule,
        )  # fmt: skip
        await conv.step.execute(refuse)

    async def _runtime_tool(
        self, conv: Conversation, call: ToolCall, name: str, arguments: dict[str, Any]
    ) -> Stop | None:
        if name == "attempt_completion":
            await self._final_answer(conv, call, str(arguments["result"]), "The task is complete; the user sees it.")
            return None
        if name == "ask_followup_question":
            suggestions = "".join(f"\n- {item}" for item in arguments.get("suggestions") or ())
            text = str(arguments["question"]) + (f"\n{suggestions}" if suggestions else "")
            await self._final_answer(conv, call, text, "The question was shown; the user's reply comes next.")
            return Stop(StopReason.QUESTION)
        if name == "switch_mode":
            return await self._switch_mode(conv, call, str(arguments["mode"]), str(arguments["reason"]))
        return await self._plans.propose(conv, call, arguments)

    async def _final_answer(self, conv: Conversation, call: ToolCall, text: str, note: str) -> None:
        """Answer ``call`` and skip the calls after it (the turn ends here), then show ``text`` to the user."""
        await conv.answer(call, note)
        for later in conv.open_calls():
            await conv.answer(later, f"Error: not run because {call.name} ended the turn.")
        message = Message(role="assistant", content=text, created_at=conv.step.now, agent=conv.agent_id)
        await conv.append(message, shown=True)

    async def _switch_mode(self, conv: Conversation, call: ToolCall, target: str, reason: str) -> Stop | None:
        target = target.strip().lower()
        workers = self._services.catalogue.workers
        if target not in workers or target == conv.agent_id:
            problem = "is already active" if target == conv.agent_id else "is not an agent you can switch to"
            await conv.answer(call, f"Error: '{target}' {problem}. Agents: {', '.join(workers)}.")
            return None
        await conv.switch(target, reason or "switch_mode")
        name = self._services.agent(target).name
        await conv.answer(call, f"Switched to the {name} agent; it continues the task from here.")
        return None

    async def tool_result(self, conv: Conversation, issued: IssuedToolCall, result: Any, error: str | None) -> None:
        """The IDE's result for an outstanding call; for a gated call it is also the decision (result → approved,
        error → rejected with the error as feedback), because the IDE answers a banner that way."""
        step = conv.step
        answer = RecordToolResult(
            session_id=conv.session.id, call_id=issued.call_id, result=result, error=error, subject=step.subject
        )
        approval = await step.execute(answer)
        content = f"Error: {error}" if error is not None else orjson.dumps(result).decode()
        if approval is not None and approval.edited:
            edited = orjson.dumps(approval.approved_arguments).decode()
            content = f"The user edited the arguments before it ran; it ran with {edited}.\n{content}"
        await conv.answer(ToolCall(issued.call_id, issued.tool_name, {}), content)

    async def decide(self, conv: Conversation, issued: IssuedToolCall, frame: HitlDecision) -> str | Stop | None:
        """The person's decision on ``issued``, whose approval is pending. ``approve`` leaves the call with the client
        (a :class:`Stop` until its result); ``reject`` answers it with the feedback and the turn goes on (None);
        ``edit`` is :meth:`_edit`. With ``always``, an approve or reject first remembers that answer for exactly
        this call (:meth:`_remember`)."""
        if frame.always and frame.decision != "edit":
            await self._remember(conv, issued, allow=frame.decision == "approve")
        if frame.decision == "reject":
            text = "The user rejected this call" + (f": {frame.feedback}" if frame.feedback else ".")
            await self.tool_result(conv, issued, None, text)
            return None
        if frame.decision == "edit":
            assert frame.modified_arguments is not None
            return await self._edit(conv, issued, frame.modified_arguments)
        approve = DecideApproval(
            session_id=conv.session.id, call_id=issued.call_id, decision=Decision.APPROVE, feedback=frame.feedback
        )
        await conv.step.execute(approve)
        return Stop(StopReason.TOOL_CALL)

    async def _edit(self, conv: Conversation, issued: IssuedToolCall, modified: dict[str, Any]) -> str | Stop | None:
        """An edit is a new call: the edited arguments go through the whole policy (``ApprovalPolicy.decide``,
        edited). Returns a problem (the edit is invalid or not the agent's to make; nothing changes), a
        :class:`Stop` (the edited call is handed out, gated again with a new approval when the policy asks), or None
        when the policy refuses the edited call (it is answered as refused and the turn goes on)."""
        try:
            valid = validate_tool_call(issued.tool_name, modified)
        except InvalidToolCall as exc:
            return exc.message
        agent = self._services.agent(conv.agent_id)
        permission = check_permission(agent, valid.name, valid.arguments)
        if isinstance(permission, Refused):
            return permission.reason
        step = conv.step
        decision = self._decide(conv, agent.id, valid, edited=True)
        if isinstance(decision, Deny):
            await self._log_refusal(conv, issued.call_id, valid, decision)
            await self.tool_result(conv, issued, None, refusal_result(decision).removeprefix("Error: "))
            return None
        ask_again = EDITED_REASON + decision.reason if isinstance(decision, Ask) else None
        edit = EditToolCall(
            session_id=conv.session.id, call_id=issued.call_id, arguments=valid.arguments, ask_again=ask_again
        )
        approval_id = await step.execute(edit)
        return Stop(StopReason.APPROVAL if approval_id is not None else StopReason.TOOL_CALL)

    def _decide(self, conv: Conversation, agent_id: str, call: ValidCall, *, edited: bool = False) -> PolicyDecision:
        """The policy's decision for a call (``edited``: by the person) in this session, with what its client
        declared and its "always" rules."""
        session = conv.session
        remembered = session.approval_rules or session.denied_rules
        rules = session_rules(session.approval_rules, session.denied_rules) if remembered else None
        declared = session.client_tools
        client = ClientContext(excludes_secrets=declared is not None and declared.excludes_secrets)
        return self._services.policy.decide(agent_id, call.name, call.arguments, client, rules, edited=edited)

    async def _remember(self, conv: Conversation, issued: IssuedToolCall, *, allow: bool) -> None:
        """Remember "always allow" (or, ``allow=False``, "always reject") for exactly this call on the session (one
        tool with one exact simple command or one exact path; ``guardrails.rules.always_rule``); a call that is not
        that narrow is approved (rejected) once only. A rejected scope is refused from then on (``tool_refused``)."""
        rule = always_rule_for(issued.tool_name, issued.arguments)
        if rule is not None:
            await conv.step.execute(RememberRule(session_id=conv.session.id, rule=rule, allow=allow))

    async def abandon(self, conv: Conversation, reason: str) -> None:
        """Close every open call (the user moved on): outstanding calls and their approvals end, pending plans are
        cancelled, and each call gets an ``Error`` answer so the history stays valid for the model."""
        for call in conv.open_calls():
            await conv.step.execute(AbandonToolCall(session_id=conv.session.id, call_id=call.id, reason=reason))
            await conv.answer(call, f"Error: not run: {reason}")
