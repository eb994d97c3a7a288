"""A turn: one run of the session's agent, from the step that starts it to its ``done``.

``Turn.prepare`` is the last thing in a step: it logs the stop the run reached (``done``), or reserves the seqs of
the model's deltas and snapshots the model call. ``Turn.drive`` makes that call outside any transaction while the
deltas go live, then in the next step records the reply (one assistant message with the text before the tool calls
and ALL its tool calls), works through the open calls (``dispatch``), and either stops or prepares the next call.
``Turn.finish`` logs ``done`` in the same transaction as the state it announces. Frames start and continue turns,
plans continue them (a subtask is the next pass of the same turn), recovery drives or finishes the runs a dead
process left.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from agent_runtime.agents.client_tools import offered_tools, system_prompt_for
from agent_runtime.agents.context import fit_history
from agent_runtime.agents.tools import tool_schemas
from agent_runtime.application import chunks
from agent_runtime.application.command_bus import Step
from agent_runtime.application.commands import FinishRun
from agent_runtime.domain.message import Message, ToolCall
from agent_runtime.domain.run import StopReason
from agent_runtime.runs.conversation import Conversation
from agent_runtime.runs.dispatch import Dispatcher
from agent_runtime.runs.model import ModelFailed, RawToolCall, Reply
from agent_runtime.runs.plan_flow import PlanFlow
from agent_runtime.runs.services import RunState, Services, Stop

OnDone = Callable[[int], None]  # gets the seq of the turn's ``done``


@dataclass(frozen=True, slots=True)
class Request:
    """One model call, snapshotted inside a step and made after its commit."""

    agent: str
    model: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]


class Turns:
    """What every turn is driven with: the run services, the tool dispatcher and the plan flow."""

    def __init__(self, services: Services, dispatcher: Dispatcher, plans: PlanFlow) -> None:
        self._services = services
        self._dispatcher = dispatcher
        self._plans = plans

    def begin(self, state: RunState, on_done: OnDone) -> Turn:
        """The turn of the run in ``state``; ``on_done`` gets the seq of its ``done`` before anyone can read it."""
        return Turn(self._services, self._dispatcher, self._plans, state, on_done)


class Turn:
    def __init__(
        self, services: Services, dispatcher: Dispatcher, plans: PlanFlow, state: RunState, on_done: OnDone
    ) -> None:
        self._services = services
        self._dispatcher = dispatcher
        self._plans = plans
        self.state = state
        self._on_done = on_done

    async def drive(self, request: Request | None = None) -> None:
        """Run until a stop point. ``request``: the model call the caller's step already prepared, made first."""
        state, commands = self.state, self._services.commands
        reply: tuple[str, Reply] | None = None
        while True:
            if request is None:
                async with commands.step(state.session_id, state.origin) as step:
                    conv = await Conversation.load(step, self._services.history)
                    stop = await self._record(conv, reply) if reply is not None else None
                    request = await self.prepare(conv, stop)
                if request is None:
                    return
            try:
                reply = (request.agent, await self._call_model(request))
            except ModelFailed as exc:
                async with commands.step(state.session_id, state.origin) as step:
                    await self.finish(step, Stop(StopReason.ERROR, exc.message, exc.code))
                return
            request = None

    async def prepare(self, conv: Conversation, stop: Stop | None = None) -> Request | None:
        """Last thing in a step: log the stop the run reaches (``stop``, else the one it reaches without the model;
        returns None), or reserve the seqs of the model's deltas and return the model call to make after the
        commit."""
        if stop is None:
            stop = await self._advance(conv)
        if stop is not None:
            await self.finish(conv.step, stop)
            return None
        await conv.step.reserve_live()
        return self._request(conv)

    async def _advance(self, conv: Conversation) -> Stop | None:
        """The stop this run reaches without the model, or None when the model must be called next."""
        stop = await self._dispatcher.next_stop(conv, self.state)
        if stop is not None:
            return stop
        if conv.ended_with_answer():
            return await self._plans.after_turn(conv)
        return None

    async def finish(self, step: Step, stop: Stop) -> None:
        """End the run with ``stop`` in ``step`` (``FinishRun``: the run row, ``error`` if any, the usage record and
        ``done``); ``on_done`` gets the seq of ``done`` after the commit."""
        state = self.state
        finish = FinishRun(
            session_id=state.session_id,
            run_id=state.run.id,
            reason=stop.reason,
            error=stop.error,
            code=stop.code,
            model=state.model,
            prompt_tokens=state.usage["prompt_tokens"],
            completion_tokens=state.usage["completion_tokens"],
            duration_ms=int((time.perf_counter() - state.started) * 1000),
            model_finish=state.model_finish,
            client_message_id=state.client_message_id,
        )
        done_seq: int = await step.execute(finish)
        on_done = self._on_done
        step.before_publish.append(lambda _step: on_done(done_seq))

    def _request(self, conv: Conversation) -> Request:
        agent = self._services.agent(conv.agent_id)
        client = conv.session.client_tools
        messages = [{"role": "system", "content": system_prompt_for(agent.system_prompt, agent.tools, client)}]
        messages.extend(message.to_openai() for message in conv.history)
        tools = tool_schemas(offered_tools(agent.tools, client))
        return Request(agent.id, self._services.model_for(agent), messages, tools)

    async def _call_model(self, request: Request) -> Reply:
        services, state = self._services, self.state
        window = await services.windows.window(request.model) or services.settings.default_context_window
        fitted = fit_history(
            request.messages, context_window=window, reserve_tokens=services.settings.reply_reserve_tokens
        )
        stream, session_id = services.stream, state.session_id

        async def relay(token: str) -> None:
            await stream.live(session_id, chunks.delta(token))

        reply = await services.caller.reply(
            model=request.model, messages=fitted.messages, tools=request.tools, session_id=session_id, on_token=relay
        )
        state.model, state.model_calls = request.model, state.model_calls + 1
        state.model_finish = reply.finish_reason
        state.add_usage(reply.usage)
        return reply

    async def _record(self, conv: Conversation, reply: tuple[str, Reply]) -> Stop | None:
        """Append the reply as ONE assistant message; stop when the loop guard says the turn goes in circles."""
        agent, answer = reply
        calls = _unique_calls(answer.tool_calls, conv.history)
        text = answer.text or None
        if not calls and text is None:
            text = "(The model returned an empty answer.)"
        message = Message(role="assistant", content=text, created_at=conv.step.now, tool_calls=calls, agent=agent)
        await conv.append(message, shown=bool(text))
        if not calls:
            return None
        verdict = self._services.guard.check(conv.turn_messages())
        if verdict is None:
            return None
        for call in conv.open_calls():
            await conv.answer(call, f"Error: not run: {verdict.message}")
        await conv.append(Message(role="assistant", content=verdict.message, created_at=conv.step.now, agent=agent))
        return Stop(StopReason.ERROR, verdict.message, verdict.reason)


def _unique_calls(raw_calls: list[RawToolCall], history: list[Message]) -> tuple[ToolCall, ...]:
    """The reply's calls with parsed arguments; a missing or already used id gets a fresh one (ids pair each call
    with its result, in the history and at the IDE)."""
    used = {call.id for message in history for call in message.tool_calls}
    calls = []
    for raw in raw_calls:
        call_id = raw.id
        if not call_id or call_id in used:
            call_id = f"call_{uuid.uuid4().hex[:16]}"
        used.add(call_id)
        calls.append(ToolCall(call_id, raw.name, _arguments(raw.arguments)))
    return tuple(calls)


def _arguments(text: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {"_raw": text}
    return value if isinstance(value, dict) else {"_raw": text}
