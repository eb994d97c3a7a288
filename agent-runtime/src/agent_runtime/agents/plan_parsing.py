"""Plans: the arguments of ``create_plan`` checked into the domain's subtasks (``domain/plan.py``), their order, and
the IDE's summary.

A subtask's id is its ``id`` when given, else its 1-based position as a string; ``depends_on`` may name ids or
positions. Subtask agents must be workers of the catalogue (not the orchestrator). Unknown dependencies,
self-dependencies, duplicate ids and cycles are refused with a message the model can act on.
Estimates such as ``"30m"``, ``"2h"``, ``"1h 30m"``, ``"1.5 hours"``, ``"2 часа"``, ``"45 мин"`` or ``"1d"``
(8 working hours) are summed into ``total_estimated_time``; unreadable estimates count as unknown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from agent_runtime.agents.catalogue import Catalogue
from agent_runtime.domain.plan import Subtask

MAX_SUBTASKS = 20
_UNIT_MINUTES = (
    (re.compile(r"^(?:d|day|days|дн|день|дня|дней)\.?$"), 480),
    (re.compile(r"^(?:h|hr|hrs|hour|hours|ч|час|часа|часов)\.?$"), 60),
    (re.compile(r"^(?:m|min|mins|minute|minutes|мин|минут|минуты|минута)\.?$"), 1),
)
_AMOUNT = re.compile(r"(\d+(?:[.,]\d+)?)\s*([^\d\s.,]+\.?)")


class InvalidPlan(Exception):
    """The plan cannot be accepted; ``message`` tells the model what to fix."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ProposedPlan(NamedTuple):
    """What a valid ``create_plan`` call asks for: the goal, its subtasks (the domain's, in the model's order) and
    the ``plan_summary`` the IDE renders (:func:`plan_summary`)."""

    goal: str
    subtasks: tuple[Subtask, ...]
    summary: dict[str, Any]


def parse_plan(arguments: Mapping[str, Any], catalogue: Catalogue) -> ProposedPlan:
    """The validated plan of a ``create_plan`` call (arguments already schema-checked or raw); raises InvalidPlan."""
    goal = arguments.get("goal")
    if not isinstance(goal, str) or not goal.strip():
        raise InvalidPlan("create_plan needs a non-empty 'goal'.")
    raw = arguments.get("subtasks")
    if not isinstance(raw, list) or not raw:
        raise InvalidPlan("create_plan needs at least one subtask in 'subtasks'.")
    if len(raw) > MAX_SUBTASKS:
        raise InvalidPlan(f"A plan may have at most {MAX_SUBTASKS} subtasks; merge some steps.")
    ids = [_subtask_id(item, position) for position, item in enumerate(raw, start=1)]
    if len(set(ids)) != len(ids):
        raise InvalidPlan(f"Subtask ids must be unique; got {ids}.")
    steps = [_step(item, ids, position, catalogue) for position, item in enumerate(raw, start=1)]
    subtasks = tuple(
        Subtask(
            id=step["id"],
            description=f"{step['title']}\n\n{step['description']}",
            agent=step["agent"],
            estimated_minutes=estimate_minutes(step["estimated_time"]),
            dependencies=tuple(step["depends_on"]),
        )
        for step in steps
    )
    execution_order(subtasks)
    return ProposedPlan(goal.strip(), subtasks, plan_summary(goal.strip(), steps))


def _subtask_id(item: Any, position: int) -> str:
    if not isinstance(item, Mapping):
        raise InvalidPlan(f"Subtask {position} must be an object with title, description and agent.")
    value = item.get("id")
    if value is None:
        return str(position)
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise InvalidPlan(f"Subtask {position}: 'id' must be a non-empty string.")
    return str(value).strip()


def _step(item: Mapping[str, Any], ids: Sequence[str], position: int, catalogue: Catalogue) -> dict[str, Any]:
    """One subtask as the model wrote it, checked (the shape of a ``plan_summary`` subtask)."""
    own = ids[position - 1]
    texts = {}
    for key in ("title", "description", "agent"):
        value = item.get(key)
        if not isinstance(value, str) or not value.strip():
            raise InvalidPlan(f"Subtask {own}: '{key}' must be a non-empty string.")
        texts[key] = value.strip()
    agent = texts["agent"].lower()
    if agent not in catalogue.workers:
        raise InvalidPlan(f"Subtask {own}: unknown agent '{texts['agent']}'; use one of {list(catalogue.workers)}.")
    estimate = item.get("estimated_time") or ""
    if not isinstance(estimate, str | int | float) or isinstance(estimate, bool):
        raise InvalidPlan(f"Subtask {own}: 'estimated_time' must be a string such as '30m'.")
    return {
        "id": own,
        "title": texts["title"],
        "description": texts["description"],
        "agent": agent,
        "estimated_time": str(estimate).strip(),
        "depends_on": list(_depends(item, ids, own)),
    }


def _depends(item: Mapping[str, Any], ids: Sequence[str], own: str) -> tuple[str, ...]:
    raw = item.get("depends_on") or []
    if not isinstance(raw, list):
        raise InvalidPlan(f"Subtask {own}: 'depends_on' must be a list of subtask ids.")
    result: list[str] = []
    for value in raw:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise InvalidPlan(f"Subtask {own}: 'depends_on' must list subtask ids.")
        target = str(value).strip()
        if target not in ids and isinstance(value, int) and 1 <= value <= len(ids):
            target = ids[value - 1]
        if target not in ids:
            raise InvalidPlan(f"Subtask {own} depends on unknown subtask '{value}'; known ids: {list(ids)}.")
        if target == own:
            raise InvalidPlan(f"Subtask {own} cannot depend on itself.")
        if target not in result:
            result.append(target)
    return tuple(result)


def execution_order(subtasks: Sequence[Subtask]) -> list[Subtask]:
    """Subtasks in dependency order, keeping the model's order where free; raises InvalidPlan on a cycle."""
    done: set[str] = set()
    order: list[Subtask] = []
    remaining = list(subtasks)
    while remaining:
        ready = next((s for s in remaining if set(s.dependencies) <= done), None)
        if ready is None:
            cycle = ", ".join(s.id for s in remaining)
            raise InvalidPlan(f"The dependencies of subtasks {cycle} form a cycle; remove one dependency.")
        order.append(ready)
        done.add(ready.id)
        remaining.remove(ready)
    return order


def estimate_minutes(text: str) -> int | None:
    """Minutes of an estimate such as ``"1h 30m"`` or ``"2 часа"``; None when it cannot be read."""
    cleaned = text.strip().lower()
    if not cleaned:
        return None
    if cleaned.isdigit():
        return int(cleaned)
    matches = list(_AMOUNT.finditer(cleaned))
    if not matches or _AMOUNT.sub("", cleaned).strip(" ,+") != "":
        return None
    total = 0.0
    for match in matches:
        factor = next((minutes for unit, minutes in _UNIT_MINUTES if unit.match(match.group(2))), None)
        if factor is None:
            return None
        total += float(match.group(1).replace(",", ".")) * factor
    return round(total)


def format_minutes(minutes: int) -> str:
    """``90`` → ``"1h 30m"``; ``0`` → ``"0m"``."""
    hours, rest = divmod(minutes, 60)
    if hours and rest:
        return f"{hours}h {rest}m"
    return f"{hours}h" if hours else f"{rest}m"


def total_estimated_time(estimates: Sequence[str]) -> str:
    """The sum of the readable estimates, or ``"unknown"`` when none can be read."""
    known = [value for text in estimates if (value := estimate_minutes(text)) is not None]
    return format_minutes(sum(known)) if known else "unknown"


def plan_summary(goal: str, steps: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The ``plan_summary`` object of ``plan_approval_required``: goal, subtasks_count (int), total_estimated_time
    (str) and the subtasks as the model wrote them (id, title, description, agent, estimated_time, depends_on)."""
    return {
        "goal": goal,
        "subtasks_count": len(steps),
        "total_estimated_time": total_estimated_time([step["estimated_time"] for step in steps]),
        "subtasks": [dict(step) for step in steps],
    }
