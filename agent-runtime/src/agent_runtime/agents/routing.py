"""The orchestrator's routing: which agent takes the user's message.

An LLM classification is asked first (``response_format: json_object``) and its JSON ``{"agent", "confidence",
"reason"}`` is parsed strictly; when the model fails, times out, returns garbage, names an unknown agent or is less
sure than ``min_confidence`` while the keywords point somewhere, a keyword classifier (English and Russian) decides.

When does a message go (back) to the orchestrator? :func:`agent_for_message` is the rule:

1. ``user_message.agent_type`` names an agent → that agent, no routing (the user pinned it).
2. Single-agent mode → ``universal``, never routed.
3. The user pinned an agent with ``switch_agent`` → that agent until the user switches again (switching to
   ``orchestrator`` removes the pin).
4. The current specialist's task is still open (its last turn ended with text, a question or a tool call, or a plan
   is running) → the same agent: a follow-up belongs to the task in progress.
5. Otherwise — a new session, the orchestrator is current, or the last task ended with ``attempt_completion`` →
   route the message again: a completed task means the next message is a new task.
"""

from __future__ import annotations

import asyncio
import functools
import re
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import orjson

from agent_runtime.agents.catalogue import ORCHESTRATOR, UNIVERSAL, Catalogue

RESPONSE_FORMAT: dict[str, Any] = {"type": "json_object"}
Method = Literal["llm", "keywords", "default", "pinned", "single_agent", "continued"]


class ClassifierModel(Protocol):
    """A chat model that answers one non-streamed completion with its text content."""

    async def complete(self, messages: list[dict[str, Any]], *, response_format: dict[str, Any]) -> str:
        """The assistant's content for ``messages``; raises on any failure."""
        ...


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """Where a message goes, how sure the router is (0..1), why, and which method decided."""

    agent: str
    confidence: float
    reason: str
    method: Method


_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def classification_messages(catalogue: Catalogue, user_message: str) -> list[dict[str, Any]]:
    """The chat messages asking the model to pick an agent for ``user_message``."""
    lines = [f"- {agent.id}: {agent.description}" for agent in catalogue if agent.id != ORCHESTRATOR]
    system = (
        "You route a user's request to the one agent best suited to it. Agents:\n"
        + "\n".join(lines)
        + '\nAnswer with one JSON object only: {"agent": "<agent id>", "confidence": <number 0..1>, '
        '"reason": "<one short sentence>"}.'
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user_message}]


def parse_classification(text: str, catalogue: Catalogue) -> RouteDecision | None:
    """The model's answer as a decision, or None when it is not exactly the JSON asked for.

    A single surrounding Markdown code fence is tolerated; anything else (prose, arrays, unknown or non-routable
    agents, a confidence that is not a number in 0..1, a reason that is not a string) is rejected.
    """
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    try:
        data = orjson.loads(fenced.group(1) if fenced else stripped)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    agent, confidence, reason = data.get("agent"), data.get("confidence"), data.get("reason", "")
    if not isinstance(agent, str) or agent.strip().lower() not in catalogue.workers:
        return None
    if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0 <= confidence <= 1:
        return None
    if not isinstance(reason, str):
        return None
    return RouteDecision(agent.strip().lower(), float(confidence), reason.strip(), "llm")


def keyword_scores(message: str, catalogue: Catalogue) -> dict[str, int]:
    """How many of its keywords (``Agent.keywords``) occur in ``message``, for each worker that has keywords; in the
    order of ``Agent.keyword_rank`` (a tie goes to the first)."""
    ranked = sorted((a for a in catalogue if a.keywords and a.id in catalogue.workers), key=lambda a: a.keyword_rank)
    return {agent.id: len(_pattern(agent.keywords).findall(message)) for agent in ranked}


@functools.cache
def _pattern(keywords: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(keywords) + ")", re.IGNORECASE)


def classify_by_keywords(message: str, catalogue: Catalogue) -> RouteDecision:
    """The agent whose keywords occur most often; ties go to the more specific agent (the lower ``keyword_rank``:
    debug, architect, coder, ask for the built-in agents).

    No keyword at all: ``ask`` for a question (ends with '?'), otherwise ``coder``.
    """
    scores = keyword_scores(message, catalogue)
    best = max(scores, key=lambda agent: scores[agent], default=None)
    if best is not None and scores[best] > 0:
        confidence = round(min(0.8, 0.4 + 0.1 * scores[best]), 2)
        return RouteDecision(best, confidence, f"keywords of the {best} agent", "keywords")
    fallback = "ask" if message.rstrip().endswith("?") else "coder"
    if fallback not in catalogue:
        fallback = catalogue.workers[0]
    return RouteDecision(fallback, 0.3, "no clear signal; default agent", "default")


class Router:
    """Routes a message with the model and falls back to keywords; never raises.

    ``keyword_shortcut``: when the keywords point to one agent only, with at least this confidence, that decides
    without the model (a classification call costs a whole model round trip before the first token); None = always
    ask the model."""

    def __init__(
        self,
        model: ClassifierModel,
        catalogue: Catalogue,
        *,
        min_confidence: float = 0.4,
        timeout: float = 15.0,
        keyword_shortcut: float | None = None,
    ) -> None:
        self._model = model
        self._catalogue = catalogue
        self._min_confidence = min_confidence
        self._timeout = timeout
        self._shortcut = keyword_shortcut

    async def route(self, message: str) -> RouteDecision:
        """The agent for ``message`` with confidence, reason and the deciding method."""
        fallback = classify_by_keywords(message, self._catalogue)
        if self._clear(message, fallback):
            return fallback
        try:
            async with asyncio.timeout(self._timeout):
                answer = await self._model.complete(
                    classification_messages(self._catalogue, message), response_format=RESPONSE_FORMAT
                )
        except Exception:  # noqa: BLE001 - any model failure is answered by the keyword classifier
            return fallback
        decision = parse_classification(answer, self._catalogue)
        if decision is None:
            return fallback
        if decision.confidence < self._min_confidence and fallback.method == "keywords":
            return fallback
        return decision

    def _clear(self, message: str, keywords: RouteDecision) -> bool:
        if self._shortcut is None or keywords.method != "keywords" or keywords.confidence < self._shortcut:
            return False
        return sum(1 for score in keyword_scores(message, self._catalogue).values() if score) == 1


def agent_for_message(
    catalogue: Catalogue,
    *,
    current_agent: str | None,
    requested_agent: str | None = None,
    pinned: bool = False,
    task_open: bool = False,
) -> RouteDecision | None:
    """The agent that takes the next user message, or None when the orchestrator must route it (module docstring)."""
    if not catalogue.multi_agent:
        return RouteDecision(catalogue.entry, 1.0, "single-agent mode", "single_agent")
    if requested_agent and requested_agent != ORCHESTRATOR and requested_agent in catalogue:
        return RouteDecision(requested_agent, 1.0, "requested by the user", "pinned")
    if current_agent in (None, ORCHESTRATOR, UNIVERSAL) or current_agent not in catalogue:
        return None
    if pinned:
        return RouteDecision(current_agent, 1.0, "chosen by the user", "pinned")
    if task_open:
        return RouteDecision(current_agent, 1.0, "continues the open task", "continued")
    return None


def check_switch(catalogue: Catalogue, current_agent: str | None, target: str) -> str | None:
    """Why a ``switch_mode``/``switch_agent`` to ``target`` is refused (for the model or the user), or None.

    Agents may switch to any other worker; ``orchestrator`` is a valid target only for the user (it removes the pin),
    which the caller decides. Single-agent mode has nothing to switch to.
    """
    if not catalogue.multi_agent:
        return "Switching agents is not available in single-agent mode."
    if target not in catalogue:
        return f"Unknown agent '{target}'. Agents: {', '.join(catalogue.agents)}."
    if target == current_agent:
        return f"The {target} agent is already active."
    return None
