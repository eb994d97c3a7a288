"""An "always" answer covers one tool with one exact scope, never a compound command line."""

from __future__ import annotations

import pytest

from gateway.acp import permissions
from gateway.acp.permissions import SessionRules


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
    assert permissions.scope("execute_command", {"command": command}) is None
    assert [o["kind"] for o in permissions.options(None)] == ["allow_once", "reject_once"]


def test_a_simple_command_may_be_answered_for_good_and_covers_exactly_itself() -> None:
    scope = permissions.scope("execute_command", {"command": "npm test"})
    assert scope is not None
    assert [o["kind"] for o in permissions.options(scope)] == [
        "allow_once",
        "allow_always",
        "reject_once",
        "reject_always",
    ]
    assert permissions.scope("execute_command", {"command": "npm   test"}) == scope
    assert permissions.scope("execute_command", {"command": "npm test --watch"}) != scope
    assert permissions.scope("execute_command", {"command": "npm test", "cwd": "sub"}) != scope
    assert permissions.scope("execute_command", {"command": "npm test", "shell": True}) != scope


def test_file_tools_are_scoped_to_one_exact_path() -> None:
    assert permissions.scope("write_file", {"path": "docs/a.md", "content": "x"}) == permissions.scope(
        "write_file", {"path": "docs/a.md", "content": "something else"}
    )
    assert permissions.scope("write_file", {"path": "docs/a.md"}) != permissions.scope(
        "write_file", {"path": "docs/b.md"}
    )
    assert permissions.scope("write_file", {"path": "a.md"}) != permissions.scope("read_file", {"path": "a.md"})


def test_the_rules_remember_per_session_and_forget_the_least_recently_used() -> None:
    rules = SessionRules(limit=2)
    npm = permissions.scope("execute_command", {"command": "npm test"})
    rm = permissions.scope("execute_command", {"command": "rm build"})
    assert npm is not None
    assert rm is not None
    rules.remember("s1", npm, permissions.ALLOW_ALWAYS)
    rules.remember("s1", rm, permissions.REJECT_ALWAYS)
    assert rules.decided("s1", npm) == permissions.ALLOW_ALWAYS
    assert rules.decided("s1", rm) == permissions.REJECT_ALWAYS
    assert rules.decided("s2", npm) is None
    assert rules.decided("s1", None) is None
    rules.remember("s2", npm, permissions.ALLOW_ALWAYS)
    rules.remember("s3", npm, permissions.ALLOW_ALWAYS)
    assert rules.decided("s1", npm) is None  # dropped: the least recently used of three
    assert rules.decided("s3", npm) == permissions.ALLOW_ALWAYS


def test_an_answer_is_read_from_the_nested_outcome() -> None:
    assert permissions.chosen({"outcome": {"outcome": "selected", "optionId": "allow_always"}}) == "allow_always"
    assert permissions.chosen({"outcome": {"outcome": "cancelled"}}) is None
    assert permissions.chosen({"outcome": "allow_once"}) is None  # the flat form one RFD diagram shows is wrong
    assert permissions.chosen({"outcome": {"outcome": "selected", "optionId": "sudo"}}) is None
