"""Which tools the model is offered, given what the client can execute (contracts.md: client_tools).

A tool the IDE executes (``tools.is_ide_tool``) is offered only when the session's client declared it; the runtime's
own tools are always offered. A client that never declared its tools is the IDE, which runs all six.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from agent_runtime.agents.tools import IDE_TOOLS, canonical_tool_name, is_ide_tool
from agent_runtime.domain.client_tools import ClientTools

IDE_CLIENT = ClientTools(IDE_TOOLS)


def client_or_ide(client: ClientTools | None) -> ClientTools:
    """The session's declared client, or the IDE when it never declared one."""
    return IDE_CLIENT if client is None else client


def client_can_run(client: ClientTools | None, tool_name: str) -> bool:
    """Whether ``tool_name`` may be used with this client: a runtime tool always, a client tool when declared."""
    return not is_ide_tool(tool_name) or client_or_ide(client).runs(canonical_tool_name(tool_name))


@functools.lru_cache(maxsize=256)
def offered_tools(agent_tools: tuple[str, ...], client: ClientTools | None) -> tuple[str, ...]:
    """The agent's tools the model is offered for this client, in the agent's order (every model call asks)."""
    return tuple(name for name in agent_tools if client_can_run(client, name))


@functools.lru_cache(maxsize=256)
def system_prompt_for(prompt: str, agent_tools: tuple[str, ...], client: ClientTools | None) -> str:
    """The agent's system prompt, with a note naming the tools it mentions that this client cannot run (the model
    is not offered them; without the note it may still reach for them)."""
    withheld = [name for name in agent_tools if not client_can_run(client, name)]
    if not withheld:
        return prompt
    return (
        f"{prompt}\n\nIn this session the user's editor cannot run {', '.join(withheld)}: those tools are not "
        "available; work with the others."
    )


def declared_tools(names: Iterable[str], excludes_secrets: bool = False) -> ClientTools:
    """A client's declaration as the runtime keeps it: canonical names of the tools it executes; names of tools the
    runtime does not hand to clients are dropped (a client cannot add tools)."""
    canonical = (canonical_tool_name(name) for name in names)
    return ClientTools(frozenset(name for name in canonical if name in IDE_TOOLS), excludes_secrets)
