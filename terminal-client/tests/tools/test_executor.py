"""The executor: names and aliases, and every failure turned into an ``error`` string, never an exception."""

from __future__ import annotations

from pathlib import Path

from codelab_chat.tools.executor import SUPPORTED_TOOLS, ToolExecutor
from codelab_chat.workspace import Workspace


def test_the_ide_tool_names_are_supported() -> None:
    assert {
        "read_file",
        "write_file",
        "list_files",
        "create_directory",
        "execute_command",
        "run_command",
        "search_in_code",
    } == SUPPORTED_TOOLS


async def test_an_unknown_tool_is_an_error_naming_it(workspace: Path) -> None:
    outcome = await ToolExecutor(Workspace(workspace)).execute("attempt_completion", {})

    assert (outcome.result, outcome.error) == (None, "Unsupported tool: attempt_completion")


async def test_run_command_is_an_alias_of_execute_command(workspace: Path) -> None:
    outcome = await ToolExecutor(Workspace(workspace)).execute("run_command", {"command": "echo hi"})

    assert outcome.ok
    assert outcome.result is not None
    assert outcome.result["stdout"] == "hi\n"


async def test_path_violations_and_bad_arguments_become_error_strings(workspace: Path) -> None:
    executor = ToolExecutor(Workspace(workspace))

    escape = await executor.execute("read_file", {"path": "../../etc/passwd"})
    wrong_type = await executor.execute("read_file", {"path": 5})
    not_object = await executor.execute("read_file", ["a.txt"])

    assert escape.error == "Path traversal is not allowed: ../../etc/passwd"
    assert wrong_type.error == "Argument 'path' must be a string"
    assert not_object.error == "Arguments must be a JSON object"


async def test_os_errors_become_error_strings(workspace: Path) -> None:
    (workspace / "dir").mkdir()

    outcome = await ToolExecutor(Workspace(workspace)).execute("read_file", {"path": "dir"})

    assert outcome.error == "File not found: dir"
