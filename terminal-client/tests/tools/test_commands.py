"""execute_command: result shape, no shell by default, cwd confinement, timeout, output limit."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from codelab_chat.tools.commands import execute_command
from codelab_chat.tools.limits import ToolLimits
from codelab_chat.workspace import PathViolation, ToolError, Workspace

LIMITS = ToolLimits()
PYTHON = sys.executable


@pytest.fixture
def space(workspace: Path) -> Workspace:
    return Workspace(workspace)


async def test_a_command_returns_the_ide_result_shape(space: Workspace) -> None:
    result = await execute_command(space, LIMITS, {"command": "echo hello"})

    assert set(result) == {"command", "exit_code", "stdout", "stderr", "duration_ms", "timed_out"}
    assert (result["command"], result["exit_code"], result["stdout"], result["stderr"]) == (
        "echo hello",
        0,
        "hello\n",
        "",
    )
    assert result["timed_out"] is False
    assert isinstance(result["duration_ms"], int)


async def test_a_non_zero_exit_is_still_a_result(space: Workspace) -> None:
    command = f"{PYTHON} -c \"import sys; sys.stderr.write('bad'); sys.exit(3)\""

    result = await execute_command(space, LIMITS, {"command": command})

    assert (result["exit_code"], result["stderr"]) == (3, "bad")


async def test_without_shell_operators_are_plain_arguments(space: Workspace) -> None:
    result = await execute_command(space, LIMITS, {"command": "echo a; touch pwned && echo b > out.txt"})

    assert result["stdout"] == "a; touch pwned && echo b > out.txt\n"
    assert sorted(p.name for p in space.root.iterdir()) == []


async def test_with_shell_true_the_shell_interprets_the_command(space: Workspace) -> None:
    result = await execute_command(space, LIMITS, {"command": "echo a && echo b > out.txt", "shell": True})

    assert result["stdout"] == "a\n"
    assert (space.root / "out.txt").read_text(encoding="utf-8") == "b\n"


async def test_cwd_is_relative_to_the_workspace_and_confined(space: Workspace) -> None:
    (space.root / "sub").mkdir()

    result = await execute_command(space, LIMITS, {"command": "pwd", "cwd": "sub"})

    assert result["stdout"].strip() == str(space.root / "sub")
    with pytest.raises(PathViolation):
        await execute_command(space, LIMITS, {"command": "pwd", "cwd": ".."})
    with pytest.raises(ToolError, match="Working directory not found"):
        await execute_command(space, LIMITS, {"command": "pwd", "cwd": "missing"})


async def test_a_command_past_its_timeout_is_killed_with_its_children(space: Workspace) -> None:
    # The shell starts a grandchild; killing only the shell would leave it holding the pipes open.
    result = await execute_command(
        space, LIMITS, {"command": "sleep 30 & sleep 30; echo never", "shell": True, "timeout": 1}
    )

    assert result["timed_out"] is True
    assert result["exit_code"] != 0
    assert "never" not in result["stdout"]
    assert result["duration_ms"] < 20_000


async def test_output_past_the_limit_is_cut_and_says_how_much(space: Workspace) -> None:
    command = f"{PYTHON} -c \"print('x' * 100000)\""

    result = await execute_command(space, ToolLimits(max_output_bytes=1000), {"command": command})

    kept, note = result["stdout"].split("\n", 1)
    assert kept == "x" * 1000
    assert note == "… [output truncated: 99001 more bytes]"
    assert result["exit_code"] == 0


async def test_an_unknown_program_is_an_error_not_a_crash(space: Workspace) -> None:
    with pytest.raises(ToolError, match="Command not found: no-such-program-xyz"):
        await execute_command(space, LIMITS, {"command": "no-such-program-xyz --flag"})


async def test_an_unbalanced_quote_is_an_error(space: Workspace) -> None:
    with pytest.raises(ToolError, match="Cannot parse command"):
        await execute_command(space, LIMITS, {"command": "echo 'open"})


async def test_the_timeout_is_clamped_to_the_maximum(space: Workspace) -> None:
    result = await execute_command(space, ToolLimits(max_timeout=1), {"command": "sleep 5", "timeout": 999})

    assert result["timed_out"] is True


async def test_the_clients_token_is_not_passed_to_commands(space: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODELAB_TOKEN", "tok-secret")
    monkeypatch.setenv("SOME_OTHER", "visible")

    result = await execute_command(space, LIMITS, {"command": "env"})

    assert "tok-secret" not in result["stdout"]
    assert "SOME_OTHER=visible" in result["stdout"]
