"""Tool schemas (the IDE's exact names and defaults) and validation of a model's tool call arguments."""

from typing import Any

import orjson
import pytest

from agent_runtime.agents.tools import (
    IDE_TOOLS,
    RUNTIME_TOOLS,
    InvalidToolCall,
    canonical_tool_name,
    is_ide_tool,
    tool_schemas,
    validate_tool_call,
)


def parameters(name: str) -> dict[str, Any]:
    [schema] = tool_schemas((name,))
    assert schema["type"] == "function"
    assert schema["function"]["name"] == name
    parameters: dict[str, Any] = schema["function"]["parameters"]
    return parameters


def test_the_ide_tools_are_exactly_the_six_the_ide_implements() -> None:
    assert {
        "read_file",
        "write_file",
        "list_files",
        "create_directory",
        "execute_command",
        "search_in_code",
    } == IDE_TOOLS


def test_the_runtime_tools_are_never_ide_tools() -> None:
    assert {"attempt_completion", "ask_followup_question", "switch_mode", "create_plan"} == RUNTIME_TOOLS
    assert not any(is_ide_tool(name) for name in RUNTIME_TOOLS)


@pytest.mark.parametrize(
    ("tool", "properties", "required"),
    [
        ("read_file", {"path", "start_line", "end_line"}, ["path"]),
        ("write_file", {"path", "content", "create_dirs", "backup"}, ["path", "content"]),
        ("list_files", {"path", "recursive", "include_hidden", "pattern"}, ["path"]),
        ("create_directory", {"path", "recursive"}, ["path"]),
        ("execute_command", {"command", "cwd", "timeout", "shell"}, ["command"]),
        (
            "search_in_code",
            {"query", "path", "file_pattern", "case_sensitive", "regex", "max_results"},
            ["query"],
        ),
        ("attempt_completion", {"result"}, ["result"]),
        ("ask_followup_question", {"question", "suggestions"}, ["question"]),
        ("switch_mode", {"mode", "reason"}, ["mode", "reason"]),
        ("create_plan", {"goal", "subtasks"}, ["goal", "subtasks"]),
    ],
)
def test_each_tool_has_the_ides_argument_names(tool: str, properties: set[str], required: list[str]) -> None:
    schema = parameters(tool)
    assert set(schema["properties"]) == properties
    assert schema["required"] == required


@pytest.mark.parametrize(
    ("tool", "argument", "default"),
    [
        ("write_file", "create_dirs", False),
        ("write_file", "backup", True),
        ("list_files", "recursive", False),
        ("list_files", "include_hidden", False),
        ("create_directory", "recursive", True),
        ("execute_command", "cwd", "."),
        ("execute_command", "timeout", 60),
        ("execute_command", "shell", False),
        ("search_in_code", "path", "."),
        ("search_in_code", "case_sensitive", False),
        ("search_in_code", "regex", False),
        ("search_in_code", "max_results", 100),
    ],
)
def test_each_argument_declares_the_ides_default(tool: str, argument: str, default: object) -> None:
    assert parameters(tool)["properties"][argument]["default"] == default


def test_create_plan_subtasks_carry_agent_estimate_and_dependencies() -> None:
    subtask = parameters("create_plan")["properties"]["subtasks"]["items"]
    assert {"title", "description", "agent", "estimated_time", "depends_on"} <= set(subtask["properties"])


def test_tool_schemas_serialise_to_json() -> None:
    names = sorted(IDE_TOOLS | RUNTIME_TOOLS)
    assert len(orjson.loads(orjson.dumps(tool_schemas(tuple(names))))) == len(names)


def test_run_command_is_an_alias_of_execute_command() -> None:
    assert canonical_tool_name("run_command") == "execute_command"
    call = validate_tool_call("run_command", '{"command": "ls"}')
    assert call.name == "execute_command"
    assert tool_schemas(("run_command",))[0]["function"]["name"] == "execute_command"


def test_valid_arguments_come_back_as_an_object_with_integers_kept() -> None:
    call = validate_tool_call("read_file", '{"path": "lib/main.dart", "start_line": 1, "end_line": 20}')
    assert call.arguments == {"path": "lib/main.dart", "start_line": 1, "end_line": 20}
    assert type(call.arguments["start_line"]) is int


def test_an_integral_float_becomes_an_integer() -> None:
    call = validate_tool_call("execute_command", {"command": "flutter test", "timeout": 120.0})
    assert call.arguments["timeout"] == 120
    assert type(call.arguments["timeout"]) is int


def test_empty_arguments_are_an_empty_object() -> None:
    call = validate_tool_call("list_files", '{"path": "."}')
    assert call.arguments == {"path": "."}
    with pytest.raises(InvalidToolCall, match=r"missing required keys \['path'\]"):
        validate_tool_call("list_files", "")


def test_an_explicit_null_for_an_optional_key_is_dropped() -> None:
    call = validate_tool_call("read_file", {"path": "a", "start_line": None})
    assert call.arguments == {"path": "a"}


def test_switch_mode_accepts_agent_as_the_name_of_mode() -> None:
    call = validate_tool_call("switch_mode", '{"agent": "coder", "reason": "code change"}')
    assert call.arguments == {"mode": "coder", "reason": "code change"}


def test_nested_plan_arguments_are_checked() -> None:
    subtask: dict[str, Any] = {"title": "t", "description": "d", "agent": "coder", "depends_on": [1]}
    arguments = {"goal": "g", "subtasks": [subtask]}
    assert validate_tool_call("create_plan", arguments).arguments == arguments
    subtask["depends_on"] = [True]
    with pytest.raises(InvalidToolCall, match=r"subtasks\[0\]\.depends_on\[0\]"):
        validate_tool_call("create_plan", arguments)


@pytest.mark.parametrize(
    ("tool", "raw", "message"),
    [
        ("read_file", "{not json", "not valid JSON"),
        ("read_file", "[1, 2]", "must be a JSON object, not an array"),
        ("read_file", '"path"', "must be a JSON object, not a string"),
        ("read_file", "{}", "missing required keys ['path']"),
        ("read_file", '{"path": 3}', "'path' must be a string, got an integer"),
        ("read_file", '{"path": "a", "start_line": "3"}', "'start_line' must be an integer, got a string"),
        ("read_file", '{"path": "a", "start_line": 1.5}', "'start_line' must be an integer, got a number"),
        ("read_file", '{"path": "a", "start_line": true}', "'start_line' must be an integer, got a boolean"),
        ("read_file", '{"path": "a", "start_line": 0}', "'start_line' must be at least 1"),
        ("read_file", '{"path": "a", "lines": 3}', "unknown keys ['lines']"),
        ("write_file", '{"path": "a", "content": "x", "backup": "yes"}', "'backup' must be a boolean"),
        ("search_in_code", orjson.dumps({"query": "x" * 1001}).decode(), "longer than 1000"),
        ("ask_followup_question", '{"question": "q", "suggestions": "a"}', "'suggestions' must be an array"),
        ("delete_everything", "{}", "Unknown tool 'delete_everything'"),
    ],
)
def test_invalid_calls_get_a_message_the_model_can_act_on(tool: str, raw: str, message: str) -> None:
    with pytest.raises(InvalidToolCall) as caught:
        validate_tool_call(tool, raw)
    assert message in caught.value.message
