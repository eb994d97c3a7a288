"""The agent catalogue: every agent is data (prompt, tools, restrictions, model, routing keywords) run by one shared
loop. It is the only source of agent ids and of the entry agent; the orchestrator's prompt lists the specialists
from it (``{specialists}`` in a prompt is replaced by one line per worker: id and description).

Multi-agent mode (``AGENT_RUNTIME__MULTI_AGENT_MODE=true``, the default) offers the orchestrator, which routes each
new task, and the specialists coder, architect, debug and ask. Single-agent mode offers only ``universal``, which
has every tool except ``switch_mode``. A YAML file can override any field of an agent or add agents::

    agents:
      coder:
        model: gpt-4o
        system_prompt: "..."
      architect:
        write_extensions: [".md", ".markdown"]
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from agent_runtime.agents import prompts
from agent_runtime.agents.tools import ALL_SPECS, canonical_tool_name

ORCHESTRATOR = "orchestrator"
UNIVERSAL = "universal"

SPECIALISTS = "{specialists}"  # in a system prompt: the catalogue's workers, one line each
_READ = ("read_file", "list_files", "search_in_code")
_FINISH = ("ask_followup_question", "attempt_completion")


# What the keyword router counts for each built-in specialist (English and Russian regex fragments).
_CODER_KEYWORDS = (
    r"write", r"implement", r"create", r"add\b", r"refactor", r"change", r"rename", r"update", r"generate",
    r"widget", r"function", r"class\b", r"test", r"напиши", r"реализ", r"созда", r"добав", r"рефактор",
    r"измени", r"переимен", r"обнови", r"сгенерир", r"виджет", r"функци", r"класс", r"тест",
)  # fmt: skip

_ARCHITECT_KEYWORDS = (
    r"architect", r"design", r"structure", r"diagram", r"pattern", r"module boundar", r"scalab", r"adr\b",
    r"архитектур", r"спроектир", r"проектирова", r"структур", r"диаграм", r"паттерн", r"масштабир",
)  # fmt: skip

_DEBUG_KEYWORDS = (
    r"error", r"bug", r"crash", r"exception", r"stack ?trace", r"traceback", r"fail", r"broken", r"debug",
    r"not working", r"doesn'?t work", r"null check",
    r"ошибк", r"баг", r"пада", r"краш", r"крэш", r"исключени", r"не работает", r"сломал", r"отлад",
    r"стектрейс", r"вылета",
)  # fmt: skip

_ASK_KEYWORDS = (
    r"explain", r"what is", r"what are", r"what does", r"why", r"how does", r"how do", r"difference between",
    r"tell me", r"объясни", r"что такое", r"почему", r"как работает", r"зачем", r"в ч[её]м разница",
    r"расскажи", r"что делает",
)  # fmt: skip


class CatalogueError(Exception):
    """The agent configuration (built-in or from YAML) is invalid; the message names the agent and the field."""


class UnknownAgent(LookupError):
    """An agent id the catalogue does not have (a session whose agent was removed from the configuration)."""

    def __init__(self, agent_id: str, known: tuple[str, ...]) -> None:
        super().__init__(f"unknown agent {agent_id!r}; agents: {', '.join(known)}")
        self.agent_id = agent_id


@dataclass(frozen=True, slots=True)
class Restrictions:
    """Limits the server enforces beyond the tool list.

    ``write_extensions``: when set, ``write_file`` may only target files ending in one of them (case-insensitive).
    """

    write_extensions: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Agent:
    """One agent. ``model`` None means the runtime's default model (``AGENT_RUNTIME__LLM_MODEL``)."""

    id: str
    name: str
    description: str
    system_prompt: str
    tools: tuple[str, ...]
    restrictions: Restrictions = field(default_factory=Restrictions)
    model: str | None = None
    keywords: tuple[str, ...] = ()  # regex fragments (English, Russian) the keyword router counts for this agent
    keyword_rank: int = 0  # ties between keyword scores go to the lower rank (the more specific agent)

    def allows(self, tool_name: str) -> bool:
        """Whether this agent may call the tool (aliases such as ``run_command`` count as their target)."""
        return canonical_tool_name(tool_name) in self.tools


@dataclass(frozen=True, slots=True)
class Catalogue:
    """The agents of one runtime. ``entry`` answers a session's first message; ``workers`` can run plan subtasks."""

    agents: Mapping[str, Agent]
    entry: str

    def get(self, agent_id: str) -> Agent | None:
        """The agent with this id, or None."""
        return self.agents.get(agent_id)

    def agent(self, agent_id: str) -> Agent:
        """The agent with this id; :class:`UnknownAgent` when the catalogue has none (never a silent substitute)."""
        agent = self.agents.get(agent_id)
        if agent is None:
            raise UnknownAgent(agent_id, tuple(self.agents))
        return agent

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self.agents

    def __iter__(self) -> Iterator[Agent]:
        return iter(self.agents.values())

    @property
    def multi_agent(self) -> bool:
        """True when an orchestrator routes between specialists."""
        return self.entry == ORCHESTRATOR

    @property
    def workers(self) -> tuple[str, ...]:
        """Agents that take tasks: everyone but the orchestrator."""
        return tuple(agent_id for agent_id in self.agents if agent_id != ORCHESTRATOR)


def builtin_agents(multi_agent_mode: bool) -> dict[str, Agent]:
    """The shipped agents for the mode."""
    if not multi_agent_mode:
        tools = (*_READ, "write_file", "create_directory", "execute_command", "create_plan", *_FINISH)
        return {UNIVERSAL: Agent(UNIVERSAL, "CodeLab", "Does everything itself.", prompts.UNIVERSAL, tools)}
    return {agent.id: agent for agent in _multi_agents()}


def _multi_agents() -> tuple[Agent, ...]:
    return (
        Agent(
            ORCHESTRATOR,
            "Orchestrator",
            "Understands the request and routes it to the right agent or plans it.",
            prompts.ORCHESTRATOR,
            (*_READ, "switch_mode", "create_plan", *_FINISH),
        ),
        Agent(
            "coder",
            "Coder",
            "Writes, changes and refactors code; adds features and tests.",
            prompts.CODER,
            (*_READ, "write_file", "create_directory", "execute_command", "switch_mode", *_FINISH),
            keywords=_CODER_KEYWORDS,
            keyword_rank=2,
        ),
        Agent(
            "architect",
            "Architect",
            "Designs systems and documents them; writes Markdown files only.",
            prompts.ARCHITECT,
            (*_READ, "write_file", "create_plan", "switch_mode", *_FINISH),
            Restrictions(write_extensions=(".md",)),
            keywords=_ARCHITECT_KEYWORDS,
            keyword_rank=1,
        ),
        Agent(
            "debug",
            "Debug",
            "Finds the cause of errors, crashes and failing tests.",
            prompts.DEBUG,
            (*_READ, "execute_command", "switch_mode", *_FINISH),
            keywords=_DEBUG_KEYWORDS,
            keyword_rank=0,
        ),
        Agent(
            "ask",
            "Ask",
            "Explains code and concepts without changing anything.",
            prompts.ASK,
            (*_READ, "switch_mode", *_FINISH),
            keywords=_ASK_KEYWORDS,
            keyword_rank=3,
        ),
    )


def build_catalogue(multi_agent_mode: bool, overrides_file: Path | None = None) -> Catalogue:
    """The catalogue for the mode, with the YAML file's overrides applied when one is given."""
    agents = builtin_agents(multi_agent_mode)
    if overrides_file is not None:
        agents = apply_overrides(agents, _read_yaml(overrides_file))
    entry = ORCHESTRATOR if multi_agent_mode else UNIVERSAL
    specialists = "\n".join(f"- {a.id}: {a.description}" for a in agents.values() if a.id != ORCHESTRATOR)
    rendered = {
        i: replace(a, system_prompt=a.system_prompt.replace(SPECIALISTS, specialists)) for i, a in agents.items()
    }
    return Catalogue(rendered, entry)


def apply_overrides(agents: dict[str, Agent], document: Mapping[str, Any]) -> dict[str, Agent]:
    """Agents with the ``agents:`` section of a parsed YAML document applied (new ids are added)."""
    section = document.get("agents") or {}
    if not isinstance(section, Mapping):
        raise CatalogueError("'agents' must be a mapping of agent id to fields")
    result = dict(agents)
    for agent_id, fields in section.items():
        if not isinstance(fields, Mapping):
            raise CatalogueError(f"agent '{agent_id}': fields must be a mapping")
        result[str(agent_id)] = _override(str(agent_id), result.get(str(agent_id)), fields)
    return result


_TEXT_FIELDS = ("name", "description", "system_prompt", "model")


def _override(agent_id: str, agent: Agent | None, fields: Mapping[str, Any]) -> Agent:
    unknown = set(fields) - {*_TEXT_FIELDS, "tools", "write_extensions", "keywords"}
    if unknown:
        raise CatalogueError(f"agent '{agent_id}': unknown fields {sorted(unknown)}")
    if agent is None:
        if not fields.get("system_prompt") or "tools" not in fields:
            raise CatalogueError(f"agent '{agent_id}': a new agent needs system_prompt and tools")
        agent = Agent(agent_id, agent_id.title(), "", "", ())
    changes: dict[str, Any] = {}
    for name in _TEXT_FIELDS:
        if name in fields:
            value = fields[name]
            if not isinstance(value, str) or (name != "model" and not value.strip()):
                raise CatalogueError(f"agent '{agent_id}': '{name}' must be a non-empty string")
            changes[name] = value
    if "tools" in fields:
        changes["tools"] = _tools(agent_id, fields["tools"])
    if "write_extensions" in fields:
        changes["restrictions"] = Restrictions(_extensions(agent_id, fields["write_extensions"]))
    if "keywords" in fields:
        changes["keywords"] = _keywords(agent_id, fields["keywords"])
    return replace(agent, **changes)


def _tools(agent_id: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise CatalogueError(f"agent '{agent_id}': 'tools' must be a list of tool names")
    names = tuple(dict.fromkeys(canonical_tool_name(item) for item in value))
    unknown = [name for name in names if name not in ALL_SPECS]
    if unknown:
        raise CatalogueError(f"agent '{agent_id}': unknown tools {unknown}")
    return names


def _keywords(agent_id: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise CatalogueError(f"agent '{agent_id}': 'keywords' must be a list of words or regular expressions")
    for item in value:
        try:
            re.compile(item)
        except re.error as exc:
            raise CatalogueError(f"agent '{agent_id}': keyword {item!r} is not a regular expression: {exc}") from None
    return tuple(value)


def _extensions(agent_id: str, value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) and item.startswith(".") for item in value):
        raise CatalogueError(f"agent '{agent_id}': 'write_extensions' must be a list like ['.md']")
    return tuple(item.lower() for item in value)


def _read_yaml(path: Path) -> Mapping[str, Any]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogueError(f"cannot read agent file {path}: {exc}") from None
    if document is None:
        return {}
    if not isinstance(document, Mapping):
        raise CatalogueError(f"agent file {path}: the top level must be a mapping")
    return document
