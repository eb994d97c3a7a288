"""Routing: the LLM classification, its strict parsing, the keyword fallback, and when a message is routed again."""

import asyncio
import re
from typing import Any

import orjson
import pytest

from agent_runtime.agents.catalogue import build_catalogue
from agent_runtime.agents.routing import (
    RESPONSE_FORMAT,
    RouteDecision,
    Router,
    agent_for_message,
    check_switch,
    classification_messages,
    classify_by_keywords,
    parse_classification,
)

CATALOGUE = build_catalogue(True)
SINGLE = build_catalogue(False)
_ROUTE = re.compile(r"\[\[route:([^\]]*)\]\]")


class FakeMockModel:
    """Answers like the llm-proxy's mock model: a json_object request with a route directive gets the JSON."""

    def __init__(self) -> None:
        self.requests: list[tuple[list[dict[str, Any]], dict[str, Any]]] = []

    async def complete(self, messages: list[dict[str, Any]], *, response_format: dict[str, Any]) -> str:
        self.requests.append((messages, response_format))
        match = _ROUTE.search(messages[-1]["content"])
        if response_format.get("type") != "json_object" or match is None:
            return "I am a mock model."
        # The same reading as llm-proxy's mock: AGENT CONFIDENCE REASON..., a non-numeric confidence kept as text.
        agent, _, rest = match.group(1).partition(" ")
        confidence_text, _, reason = rest.strip().partition(" ")
        confidence: float | str
        try:
            confidence = float(confidence_text)
        except ValueError:
            confidence = confidence_text
        return orjson.dumps({"agent": agent, "confidence": confidence, "reason": reason.strip()}).decode()


class FakeAnswerModel:
    """Answers every request with a fixed text."""

    def __init__(self, answer: str) -> None:
        self.answer = answer

    async def complete(self, messages: list[dict[str, Any]], *, response_format: dict[str, Any]) -> str:
        return self.answer


class FakeFailingModel:
    async def complete(self, messages: list[dict[str, Any]], *, response_format: dict[str, Any]) -> str:
        raise ConnectionError("llm-proxy unreachable")


class FakeSlowModel:
    async def complete(self, messages: list[dict[str, Any]], *, response_format: dict[str, Any]) -> str:
        await asyncio.Event().wait()
        return ""


def test_the_classification_request_lists_the_agents_and_asks_for_json() -> None:
    messages = classification_messages(CATALOGUE, "Fix the crash")
    assert messages[-1] == {"role": "user", "content": "Fix the crash"}
    system = messages[0]["content"]
    for agent in ("coder", "architect", "debug", "ask"):
        assert f"- {agent}:" in system
    assert "- orchestrator:" not in system
    assert '"confidence"' in system
    assert RESPONSE_FORMAT == {"type": "json_object"}


async def test_the_model_classification_decides_when_it_is_valid() -> None:
    model = FakeMockModel()
    decision = await Router(model, CATALOGUE).route("Please help [[route:architect 0.9 needs a design]]")
    assert decision == RouteDecision("architect", 0.9, "needs a design", "llm")
    assert model.requests[0][1] == {"type": "json_object"}


@pytest.mark.parametrize(
    "directive", ["[[route:coder high a reason]]", "[[route:wizard 0.9 magic]]", "[[route:coder]]", "[[route:]]"]
)
async def test_a_bad_classification_from_the_mock_falls_back_to_keywords(directive: str) -> None:
    decision = await Router(FakeMockModel(), CATALOGUE).route(f"Why does this crash? {directive}")
    assert (decision.agent, decision.method) == ("debug", "keywords")


async def test_garbage_from_the_model_falls_back_to_keywords() -> None:
    decision = await Router(FakeMockModel(), CATALOGUE).route("The app crashes with an exception")
    assert decision.agent == "debug"
    assert decision.method == "keywords"


async def test_a_failing_model_falls_back_to_keywords() -> None:
    decision = await Router(FakeFailingModel(), CATALOGUE).route("Объясни, что такое BLoC?")
    assert (decision.agent, decision.method) == ("ask", "keywords")


async def test_a_model_that_does_not_answer_in_time_falls_back_to_keywords() -> None:
    decision = await Router(FakeSlowModel(), CATALOGUE, timeout=0.01).route("Напиши виджет логина")
    assert (decision.agent, decision.method) == ("coder", "keywords")


async def test_an_unsure_model_yields_to_matching_keywords() -> None:
    router = Router(FakeMockModel(), CATALOGUE, min_confidence=0.5)
    decision = await router.route("Design the module structure [[route:coder 0.2 unsure]]")
    assert (decision.agent, decision.method) == ("architect", "keywords")


async def test_clear_keywords_route_without_the_model_when_the_shortcut_is_on() -> None:
    model = FakeMockModel()
    router = Router(model, CATALOGUE, keyword_shortcut=0.7)
    decision = await router.route("The app crashes with an exception and a stack trace")
    assert (decision.agent, decision.method, decision.confidence) == ("debug", "keywords", 0.7)
    assert model.requests == []


@pytest.mark.parametrize(
    "message",
    [
        "The app crashes with an exception [[route:architect 0.9 needs a design]]",  # two matches: 0.6 < 0.7
        "Write a test for the crash with an exception and a stack trace [[route:debug 0.9 a bug]]",  # coder too
    ],
)
async def test_weak_or_mixed_keywords_still_ask_the_model(message: str) -> None:
    model = FakeMockModel()
    decision = await Router(model, CATALOGUE, keyword_shortcut=0.7).route(message)
    assert decision.method == "llm"
    assert len(model.requests) == 1


async def test_an_unsure_model_still_decides_when_no_keyword_matches() -> None:
    decision = await Router(FakeMockModel(), CATALOGUE, min_confidence=0.5).route("hello [[route:ask 0.2 greeting]]")
    assert (decision.agent, decision.method) == ("ask", "llm")


@pytest.mark.parametrize(
    "answer",
    [
        "",
        "coder",
        "not json at all",
        "[]",
        '"coder"',
        '{"agent": "wizard", "confidence": 0.9, "reason": "x"}',
        '{"agent": "orchestrator", "confidence": 0.9, "reason": "x"}',
        '{"agent": "coder", "confidence": 1.5, "reason": "x"}',
        '{"agent": "coder", "confidence": -0.1, "reason": "x"}',
        '{"agent": "coder", "confidence": "high", "reason": "x"}',
        '{"agent": "coder", "confidence": true, "reason": "x"}',
        '{"agent": "coder", "reason": "x"}',
        '{"agent": 3, "confidence": 0.9}',
        '{"agent": "coder", "confidence": 0.9, "reason": 7}',
        'Sure! {"agent": "coder", "confidence": 0.9, "reason": "x"}',
    ],
)
def test_anything_but_the_exact_json_is_rejected(answer: str) -> None:
    assert parse_classification(answer, CATALOGUE) is None


async def test_a_rejected_answer_routes_by_keywords() -> None:
    answer = '{"agent": "wizard", "confidence": 0.9, "reason": "x"}'
    decision = await Router(FakeAnswerModel(answer), CATALOGUE).route("refactor this class")
    assert (decision.agent, decision.method) == ("coder", "keywords")


def test_a_fenced_answer_and_a_missing_reason_are_accepted() -> None:
    answer = '```json\n{"agent": " Debug ", "confidence": 1}\n```'
    assert parse_classification(answer, CATALOGUE) == RouteDecision("debug", 1.0, "", "llm")


@pytest.mark.parametrize(
    ("message", "agent"),
    [
        ("The app crashes with a null check error", "debug"),
        ("Приложение падает с ошибкой", "debug"),
        ("Tests fail after the upgrade", "debug"),
        ("Design the architecture of the sync module", "architect"),
        ("Спроектируй архитектуру модуля", "architect"),
        ("Implement a login widget", "coder"),
        ("Напиши функцию сортировки", "coder"),
        ("Добавь тесты для репозитория", "coder"),
        ("Explain how streams work", "ask"),
        ("Что такое миксин в Dart", "ask"),
        ("Why is the sky blue", "ask"),
        ("Is this fine?", "ask"),
        ("hello there", "coder"),
    ],
)
def test_the_keyword_classifier_knows_english_and_russian(message: str, agent: str) -> None:
    assert classify_by_keywords(message, CATALOGUE).agent == agent


def test_keyword_confidence_grows_with_matches_and_has_a_ceiling() -> None:
    one = classify_by_keywords("crash", CATALOGUE)
    many = classify_by_keywords("crash error exception bug broken fails traceback", CATALOGUE)
    assert 0 < one.confidence < many.confidence <= 0.8
    assert classify_by_keywords("hello", CATALOGUE) == RouteDecision(
        "coder", 0.3, "no clear signal; default agent", "default"
    )


def test_a_new_session_or_the_orchestrator_routes_the_message() -> None:
    assert agent_for_message(CATALOGUE, current_agent=None) is None
    assert agent_for_message(CATALOGUE, current_agent="orchestrator", task_open=True) is None


def test_a_completed_task_sends_the_next_message_back_to_the_orchestrator() -> None:
    assert agent_for_message(CATALOGUE, current_agent="coder", task_open=False) is None


def test_an_open_task_keeps_its_agent() -> None:
    decision = agent_for_message(CATALOGUE, current_agent="debug", task_open=True)
    assert decision is not None
    assert (decision.agent, decision.method) == ("debug", "continued")


def test_an_agent_pinned_by_the_user_keeps_every_message() -> None:
    decision = agent_for_message(CATALOGUE, current_agent="ask", pinned=True)
    assert decision is not None
    assert (decision.agent, decision.method) == ("ask", "pinned")


def test_a_requested_agent_wins_and_an_unknown_one_is_ignored() -> None:
    decision = agent_for_message(CATALOGUE, current_agent="coder", requested_agent="architect", task_open=True)
    assert decision is not None
    assert decision.agent == "architect"
    assert agent_for_message(CATALOGUE, current_agent=None, requested_agent="wizard") is None
    assert agent_for_message(CATALOGUE, current_agent=None, requested_agent="orchestrator") is None


def test_single_agent_mode_never_routes() -> None:
    decision = agent_for_message(SINGLE, current_agent=None, requested_agent="coder")
    assert decision is not None
    assert (decision.agent, decision.method) == ("universal", "single_agent")


def test_keywords_of_agents_missing_from_the_catalogue_are_ignored() -> None:
    assert classify_by_keywords("The app crashes", SINGLE).agent == "universal"


def test_a_switch_to_another_known_agent_is_accepted() -> None:
    assert check_switch(CATALOGUE, "coder", "architect") is None
    assert check_switch(CATALOGUE, "coder", "orchestrator") is None


@pytest.mark.parametrize(
    ("catalogue", "current", "target", "reason"),
    [
        (CATALOGUE, "coder", "wizard", "Unknown agent 'wizard'"),
        (CATALOGUE, "coder", "coder", "already active"),
        (SINGLE, "universal", "coder", "single-agent mode"),
    ],
)
def test_an_impossible_switch_is_refused_with_a_reason(catalogue: Any, current: str, target: str, reason: str) -> None:
    refusal = check_switch(catalogue, current, target)
    assert refusal is not None
    assert reason in refusal
