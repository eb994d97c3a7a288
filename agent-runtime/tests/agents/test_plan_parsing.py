"""Plans: parsing create_plan arguments, dependency checks and order, estimates and the IDE's summary."""

from typing import Any

import pytest

from agent_runtime.agents.catalogue import build_catalogue
from agent_runtime.agents.plan_parsing import (
    MAX_SUBTASKS,
    InvalidPlan,
    estimate_minutes,
    execution_order,
    format_minutes,
    parse_plan,
    plan_summary,
)
from agent_runtime.domain.plan import Subtask

CATALOGUE = build_catalogue(True)


def step(title: str, agent: str = "coder", **extra: Any) -> dict[str, Any]:
    return {"title": title, "description": f"do {title}", "agent": agent, **extra}


def test_a_valid_plan_becomes_subtasks_with_position_ids() -> None:
    plan = parse_plan(
        {
            "goal": " Add login ",
            "subtasks": [
                step("design", "architect", estimated_time="30m"),
                step("build", estimated_time="2h", depends_on=[1]),
                step("check", "debug", estimated_time="15 min", depends_on=["2"]),
            ],
        },
        CATALOGUE,
    )
    assert plan.goal == "Add login"
    assert plan.subtasks[1] == Subtask(
        id="2", description="build\n\ndo build", agent="coder", estimated_minutes=120, dependencies=("1",)
    )
    assert [s.dependencies for s in plan.subtasks] == [(), ("1",), ("2",)]


def test_named_ids_can_be_used_in_dependencies() -> None:
    plan = parse_plan(
        {"goal": "g", "subtasks": [step("b", id="api", depends_on=["db"]), step("a", id="db")]}, CATALOGUE
    )
    assert [s.id for s in execution_order(plan.subtasks)] == ["db", "api"]


def test_the_execution_order_respects_dependencies_and_keeps_the_given_order_otherwise() -> None:
    plan = parse_plan(
        {"goal": "g", "subtasks": [step("a", depends_on=[3]), step("b"), step("c"), step("d", depends_on=[1])]},
        CATALOGUE,
    )
    assert [s.id for s in execution_order(plan.subtasks)] == ["2", "3", "1", "4"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"subtasks": [step("a")]}, "non-empty 'goal'"),
        ({"goal": "g", "subtasks": []}, "at least one subtask"),
        ({"goal": "g", "subtasks": "a"}, "at least one subtask"),
        ({"goal": "g", "subtasks": ["a"]}, "must be an object"),
        ({"goal": "g", "subtasks": [{"title": "a", "agent": "coder"}]}, "'description' must be a non-empty string"),
        ({"goal": "g", "subtasks": [step("a", "wizard")]}, "unknown agent 'wizard'"),
        ({"goal": "g", "subtasks": [step("a", "orchestrator")]}, "unknown agent 'orchestrator'"),
        ({"goal": "g", "subtasks": [step("a", depends_on=[5])]}, "depends on unknown subtask '5'"),
        ({"goal": "g", "subtasks": [step("a", depends_on=["x"])]}, "unknown subtask 'x'"),
        ({"goal": "g", "subtasks": [step("a", depends_on=[1])]}, "cannot depend on itself"),
        ({"goal": "g", "subtasks": [step("a", depends_on="1")]}, "must be a list"),
        ({"goal": "g", "subtasks": [step("a", depends_on=[None])]}, "must list subtask ids"),
        ({"goal": "g", "subtasks": [step("a", id="x"), step("b", id="x")]}, "ids must be unique"),
        ({"goal": "g", "subtasks": [step("a", id="")]}, "'id' must be a non-empty string"),
        ({"goal": "g", "subtasks": [step("a", estimated_time=["1h"])]}, "'estimated_time' must be a string"),
        (
            {"goal": "g", "subtasks": [step("a", depends_on=[2]), step("b", depends_on=[1])]},
            "form a cycle",
        ),
        (
            {
                "goal": "g",
                "subtasks": [step("a", depends_on=[3]), step("b", depends_on=[1]), step("c", depends_on=[2])],
            },
            "subtasks 1, 2, 3 form a cycle",
        ),
        ({"goal": "g", "subtasks": [step(str(i)) for i in range(MAX_SUBTASKS + 1)]}, "at most"),
    ],
)
def test_an_invalid_plan_is_refused_with_a_message_for_the_model(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidPlan) as caught:
        parse_plan(arguments, CATALOGUE)
    assert message in caught.value.message


def test_single_agent_mode_plans_with_the_universal_agent() -> None:
    single = build_catalogue(False)
    assert parse_plan({"goal": "g", "subtasks": [step("a", "universal")]}, single).subtasks[0].agent == "universal"
    with pytest.raises(InvalidPlan):
        parse_plan({"goal": "g", "subtasks": [step("a", "coder")]}, single)


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("30m", 30),
        ("45 min", 45),
        ("2h", 120),
        ("1h 30m", 90),
        ("1.5 hours", 90),
        ("1,5 ч", 90),
        ("2 часа", 120),
        ("1 час 20 минут", 80),
        ("1d", 480),
        ("2 дня", 960),
        ("15", 15),
        ("", None),
        ("soon", None),
        ("2 weeks", None),
        ("about 2h", None),
    ],
)
def test_estimates_are_read_in_english_and_russian(text: str, minutes: int | None) -> None:
    assert estimate_minutes(text) == minutes


def test_minutes_are_formatted_as_hours_and_minutes() -> None:
    assert [format_minutes(m) for m in (0, 45, 60, 90, 600)] == ["0m", "45m", "1h", "1h 30m", "10h"]


def test_the_plan_summary_has_the_shape_the_ide_renders() -> None:
    plan = parse_plan(
        {
            "goal": "Add login",
            "subtasks": [step("a", estimated_time="30m"), step("b", estimated_time="1h", depends_on=[1]), step("c")],
        },
        CATALOGUE,
    )
    summary = plan.summary
    assert summary["goal"] == "Add login"
    assert summary["subtasks_count"] == 3
    assert summary["total_estimated_time"] == "1h 30m"
    assert summary["subtasks"][1] == {
        "id": "2",
        "title": "b",
        "description": "do b",
        "agent": "coder",
        "estimated_time": "1h",
        "depends_on": ["1"],
    }


def test_a_plan_without_readable_estimates_has_an_unknown_total() -> None:
    steps = [{"id": "1", "title": "a", "description": "d", "agent": "coder", "estimated_time": "", "depends_on": []}]
    assert plan_summary("g", steps)["total_estimated_time"] == "unknown"
