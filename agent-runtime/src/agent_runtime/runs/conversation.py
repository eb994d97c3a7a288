"""The session as one step of a run sees it: the session, its agent context and its history, with the questions
the loop asks of them. Everything the loop needs to continue is derived from stored state (messages, issued tool
calls, approvals, plans), so a run continues the same way after a restart of the runtime."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from agent_runtime.application.command_bus import Step
from agent_runtime.application.commands import AdoptAgent, AppendMessage, DeclareClientTools, SwitchAgent
from agent_runtime.application.ports import UnitOfWork
from agent_runtime.domain.agent_context import AgentContext
from agent_runtime.domain.message import Message, ToolCall
from agent_runtime.domain.plan import Plan
from agent_runtime.domain.session import Session

USER_SWITCH_REASON = "chosen by the user"
PLAN_TOOL = "create_plan"


class HistoryCache:
    """Recent sessions' histories in memory, so a step reads only the messages it has not seen. Messages are
    append-only and the session row counts them in the same transaction, so a cached history shorter than the count
    is extended with the rest (another replica may have appended); one longer than the count (impossible unless the
    database was replaced) is read again."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._entries: OrderedDict[str, tuple[Message, ...]] = OrderedDict()

    async def read(self, uow: UnitOfWork, session: Session) -> list[Message]:
        cached = self._entries.pop(session.id, ())
        if len(cached) > session.message_count:
            cached = ()
        if len(cached) < session.message_count:
            cached += tuple(await uow.messages.history(session.id, after=len(cached)))
        self.store(session.id, cached)
        return list(cached)

    def store(self, session_id: str, history: tuple[Message, ...]) -> None:
        """Remember ``history`` (call only after the transaction that wrote it committed)."""
        self._entries.pop(session_id, None)
        self._entries[session_id] = history
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)


@dataclass(eq=False)
class Conversation:
    step: Step
    session: Session
    context: AgentContext
    history: list[Message]
    cache: HistoryCache | None = None  # updated after the commit of a step that appended messages
    caching: bool = False

    @classmethod
    async def load(cls, step: Step, cache: HistoryCache) -> Conversation:
        session = await step.session(step.session_id)
        if step.client_tools is not None:
            await step.execute(DeclareClientTools(session_id=session.id, client_tools=step.client_tools))
        context = await step.agent_context(session)
        return cls(step, session, context, await cache.read(step.uow, session), cache)

    @property
    def agent_id(self) -> str:
        return self.context.current_agent

    async def append(self, message: Message, *, shown: bool = False) -> None:
        """Append ``message`` to the history (``shown``: an assistant message the user sees as it stands)."""
        step = self.step
        append = AppendMessage(session_id=self.session.id, message=message, subject=step.subject, shown=shown)
        await step.execute(append)
        self.history.append(message)
        if self.cache is not None and not self.caching:
            self.caching = True  # once committed, the history goes to the cache: the next step reads nothing
            self.step.before_publish.append(self._remember)

    def _remember(self, _step: Step) -> None:
        """After the commit: the history as this step left it is what the session holds."""
        if self.cache is not None and len(self.history) == self.session.message_count:
            self.cache.store(self.session.id, tuple(self.history))

    async def answer(self, call: ToolCall, content: str) -> None:
        """Append the ``tool`` message that answers ``call`` (the model reads ``content`` as its result)."""
        message = Message(role="tool", content=content, created_at=self.step.now, tool_call_id=call.id, name=call.name)
        await self.append(message)

    async def switch(self, to_agent: str, reason: str, confidence: float | None = None) -> None:
        """Switch the session's agent (logs ``agent_switched``)."""
        step = self.step
        command = SwitchAgent(
            session_id=self.session.id, to_agent=to_agent, reason=reason, confidence=confidence, subject=step.subject
        )
        await step.execute(command)

    async def adopt(self, agent: str) -> None:
        """The only agent of single-agent mode takes the session over (one stored with another agent): no switch
        to announce, nobody to switch back to."""
        await self.step.execute(AdoptAgent(session_id=self.session.id, agent=agent))

    @property
    def pinned(self) -> bool:
        """The user chose the current agent (``switch_agent`` or ``agent_type``); no routing until they switch."""
        switches = self.context.switches
        return bool(switches) and switches[-1].reason == USER_SWITCH_REASON

    def open_calls(self) -> list[ToolCall]:
        """Calls of the newest assistant message with tool calls that have no ``tool`` answer yet, in order."""
        for index in range(len(self.history) - 1, -1, -1):
            message = self.history[index]
            if message.role == "assistant" and message.tool_calls:
                answered = {m.tool_call_id for m in self.history[index + 1 :] if m.role == "tool"}
                return [call for call in message.tool_calls if call.id not in answered]
        return []

    def turn_messages(self) -> list[dict[str, Any]]:
        """The OpenAI messages since the last user message (what the loop guard reads)."""
        start = max((i for i, m in enumerate(self.history) if m.role == "user"), default=-1)
        return [message.to_openai() for message in self.history[start + 1 :]]

    def task_open(self) -> bool:
        """False when the last task ended with ``attempt_completion`` (the next message is a new task)."""
        for message in reversed(self.history):
            if message.role == "assistant" and message.tool_calls:
                return all(call.name != "attempt_completion" for call in message.tool_calls)
            if message.role == "user":
                return True
        return bool(self.history)

    def ended_with_answer(self) -> bool:
        """The newest message is the assistant's answer (text, no tool calls): the turn is over."""
        last = self.history[-1] if self.history else None
        return last is not None and last.role == "assistant" and not last.tool_calls

    def last_call(self, name: str) -> ToolCall | None:
        for message in reversed(self.history):
            for call in message.tool_calls:
                if call.name == name:
                    return call
        return None

    async def active_plan(self) -> Plan | None:
        """The plan of the newest ``create_plan`` call while it is waiting for approval or running."""
        call = self.last_call(PLAN_TOOL)
        if call is None:
            return None
        approval = await self.step.uow.approvals.for_call(self.session.id, call.id)
        if approval is None or approval.plan_id is None:
            return None
        plan = await self.step.uow.plans.get(approval.plan_id)
        return plan if plan is not None and plan.is_open else None
