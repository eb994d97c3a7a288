"""An "always" answer is offered for one simple command or one path, never for a compound command line (the runtime
remembers it: agent-runtime tests/runs/test_approvals.py, test_reject_always.py)."""

from __future__ import annotations

import pytest

from gateway.acp import permissions


@pytest.mark.parametrize(
    "command",
    [
        "git status && rm -rf /",
        "ls; rm x",
        "cat a | sh",
        "echo $(whoami)",
        "echo `id`",
        "ls > out",
        "rm *",
        "cat ~/.ssh/id_rsa",
        "echo $HOME",
        'git commit -m "x; y"',
        "ls\nrm -rf .",
        "",
    ],
)
def test_a_compound_or_shell_command_line_is_only_answered_once(command: str) -> None:
    assert not permissions.may_remember("execute_command", {"command": command})
    assert [o["kind"] for o in permissions.options(False)] == ["allow_once", "reject_once"]


def test_a_simple_command_or_one_path_may_be_answered_for_good() -> None:
    assert permissions.may_remember("execute_command", {"command": "npm test"})
    assert [o["kind"] for o in permissions.options(True)] == [
        "allow_once",
        "allow_always",
        "reject_once",
        "reject_always",
    ]
    assert permissions.may_remember("write_file", {"path": "docs/a.md", "content": "x"})
    assert not permissions.may_remember("write_file", {"content": "x"})


def test_an_answer_is_read_from_the_nested_outcome() -> None:
    assert permissions.chosen({"outcome": {"outcome": "selected", "optionId": "allow_always"}}) == "allow_always"
    assert permissions.chosen({"outcome": {"outcome": "cancelled"}}) is None
    assert permissions.chosen({"outcome": "allow_once"}) is None  # the flat form one RFD diagram shows is wrong
    assert permissions.chosen({"outcome": {"outcome": "selected", "optionId": "sudo"}}) is None
