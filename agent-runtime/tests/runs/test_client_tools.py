"""Tools by client capability (contracts.md: client_tools): the model is offered only the tools the session's
client executes; the session remembers the latest declaration; a client that never declared is the IDE (six tools)."""

from __future__ import annotations

from typing import Any

import pytest

from agent_runtime.agents.client_tools import declared_tools, offered_tools
from agent_runtime.runs.client_tools import parse_client_tools
from agent_runtime.runs.frames import InvalidFrame

from .harness import Harness, shape, user

IDE_SIX = {"read_file", "write_file", "list_files", "search_in_code", "create_directory", "execute_command"}


def offered(request: dict[str, Any]) -> list[str]:
    return [tool["function"]["name"] for tool in request["tools"] or ()]


async def test_a_client_that_never_declared_is_offered_the_ides_six_tools() -> None:
    harness = Harness(multi_agent=False)
    await harness.send(user("hello"))
    names = offered(harness.model.requests[-1])
    assert set(names) >= IDE_SIX
    assert {"attempt_completion", "create_plan"} <= set(names)


async def test_a_client_without_a_terminal_is_offered_no_command_and_the_runtimes_own_tools_stay() -> None:
    harness = Harness(multi_agent=False)
    await harness.send(user("hello", client_tools=["read_file", "write_file"]))
    names = offered(harness.model.requests[-1])
    assert set(names) & IDE_SIX == {"read_file", "write_file"}
    assert {"attempt_completion", "ask_followup_question", "create_plan"} <= set(names)


async def test_the_system_prompt_says_which_of_its_tools_the_client_cannot_run() -> None:
    harness = Harness(multi_agent=False)
    await harness.send(user("hello", client_tools=["read_file", "write_file"]))
    system = harness.model.requests[-1]["messages"][0]["content"]
    note = system.rsplit("\n\n", 1)[-1]
    assert note.startswith("In this session the user's editor cannot run ")
    assert all(name in note for name in ("execute_command", "list_files", "search_in_code", "create_directory"))
    assert "read_file" not in note
    await harness.send(user("again", client_tools=list(IDE_SIX)))
    assert "cannot run" not in harness.model.requests[-1]["messages"][0]["content"]


async def test_the_declaration_is_remembered_and_the_latest_one_wins() -> None:
    harness = Harness(multi_agent=False)
    await harness.send(user("first", client_tools=["read_file"]))
    await harness.send(user("second"))  # declares nothing: the session keeps what it had
    assert set(offered(harness.model.requests[-1])) & IDE_SIX == {"read_file"}
    await harness.send(user("third", client_tools=["read_file", "execute_command"]))
    assert set(offered(harness.model.requests[-1])) & IDE_SIX == {"read_file", "execute_command"}
    stored = harness.uows.store.sessions["s1"].client_tools
    assert stored is not None
    assert stored.names == {"read_file", "execute_command"}


async def test_a_call_to_a_tool_the_client_cannot_run_is_answered_to_the_model_and_never_sent() -> None:
    harness = Harness(multi_agent=False)
    script = '[[tool:execute_command {"command": "ls"}]] [[2:text:ok]]'
    chunks = await harness.send(user(script, client_tools=["read_file"]))
    kinds = [kind for kind, *_ in shape(chunks)]
    assert "tool_call" not in kinds
    [refused] = [c for c in chunks if c["type"] == "tool_refused"]  # the user sees why (contracts.md)
    assert (refused["tool_name"], refused["metadata"]["rule"]) == ("execute_command", "client_tools")
    [answer] = [m for m in harness.history() if m["role"] == "tool"]
    assert "'execute_command' is not available" in answer["content"]
    assert chunks[-1]["stop_reason"] == "completed"


async def test_options_say_whether_the_client_skips_secret_files() -> None:
    harness = Harness(multi_agent=False)
    await harness.send(user("hi", client_tools=["list_files"], client_tools_options={"excludes_secrets": True}))
    stored = harness.uows.store.sessions["s1"].client_tools
    assert stored is not None
    assert stored.excludes_secrets is True


def test_aliases_are_canonical_and_names_the_runtime_does_not_hand_out_are_dropped() -> None:
    declared = declared_tools(["run_command", "read_file", "attempt_completion", "teleport"])
    assert declared.names == {"execute_command", "read_file"}
    agent_tools = ("read_file", "write_file", "execute_command", "attempt_completion")
    assert offered_tools(agent_tools, declared) == ("read_file", "execute_command", "attempt_completion")
    assert offered_tools(agent_tools, None) == agent_tools


@pytest.mark.parametrize(
    ("message", "param"),
    [
        ({"client_tools": "read_file"}, "message.client_tools"),
        ({"client_tools": [1, 2]}, "message.client_tools"),
        ({"client_tools": ["x"] * 65}, "message.client_tools"),
        ({"client_tools": [], "client_tools_options": []}, "message.client_tools_options"),
        (
            {"client_tools": [], "client_tools_options": {"excludes_secrets": "yes"}},
            "message.client_tools_options.excludes_secrets",
        ),
        ({"client_tools_options": {"excludes_secrets": True}}, "message.client_tools_options"),
    ],
)
def test_a_malformed_declaration_is_refused_naming_the_field(message: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidFrame) as raised:
        parse_client_tools({"type": "user_message", "content": "x", **message})
    assert raised.value.param == param


def test_no_declaration_and_an_empty_one_differ() -> None:
    assert parse_client_tools(user("x")) is None
    empty = parse_client_tools(user("x", client_tools=[]))
    assert empty is not None
    assert empty.names == frozenset()
