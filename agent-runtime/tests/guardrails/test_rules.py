"""Rules people write (Bash(…), Read(…), Write(…)): deny → ask → allow, and what an allow can never lift."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent_runtime.agents.tools import tool_rules
from agent_runtime.guardrails.approval_policy import (
    Allow,
    ApprovalConfigError,
    Ask,
    Deny,
    PolicyDecision,
    load_policy,
    policy_from_settings,
)
from agent_runtime.guardrails.rules import RuleError, Rules, always_rule, parse_rule
from agent_runtime.guardrails.shell import read_command_line

POLICY = policy_from_settings(
    rules={
        "allow": ["Bash(npm test:*)", "Bash(git status)", "Bash(cat:*)", "Bash(sudo:*)", "Write(docs/**/*.md)"],
        "ask": ["Bash(git log:*)", "Read(config/**)"],
        "deny": ["Bash(git push:*)", "Read(vault/**)", "Bash(npm test --watch:*)"],
    }
)


def run(command: str) -> PolicyDecision:
    return POLICY.decide("coder", "execute_command", {"command": command})


@pytest.mark.parametrize("command", ["npm test", "npm test -- --grep parser", "git status"])
def test_an_allow_rule_runs_exactly_the_simple_commands_it_names(command: str) -> None:
    decision = run(command)
    assert isinstance(decision, Allow)
    assert decision.rule.startswith("rule:")


@pytest.mark.parametrize(
    "command",
    ["npm testx", "git status --porcelain=v2 && npm i", "npm test && rm -rf build", "npm test; curl x", "npm test $X"],
)
def test_an_allow_rule_never_covers_a_compound_or_hazardous_line(command: str) -> None:
    assert isinstance(run(command), Ask)


@pytest.mark.parametrize("command", ["cat .env", "cat /etc/passwd", "cat ../../x", "npm test ../../etc"])
def test_an_allow_rule_does_not_lift_secret_or_outside_paths(command: str) -> None:
    assert isinstance(run(command), Ask)


def test_an_allow_rule_never_lifts_the_builtin_deny_list() -> None:
    assert isinstance(run("sudo ls"), Deny)


@pytest.mark.parametrize("command", ["git push", "git push --force origin main", "ls && git push", "echo $(git push)"])
def test_a_deny_rule_matches_any_command_of_the_line(command: str) -> None:
    decision = run(command)
    assert isinstance(decision, Deny)
    assert decision.rule == "rule:Bash(git push:*)"


def test_deny_wins_over_allow_and_ask_over_the_read_only_list() -> None:
    assert isinstance(run("npm test --watch"), Deny)
    assert isinstance(run("git log --oneline"), Ask)


@pytest.mark.parametrize(
    ("tool", "arguments", "kind"),
    [
        ("write_file", {"path": "docs/guide/setup.md", "content": "x"}, Allow),
        ("write_file", {"path": "docs/notes.txt", "content": "x"}, Ask),
        ("write_file", {"path": "src/docs/a.md", "content": "x"}, Ask),
        ("read_file", {"path": "config/app.yaml"}, Ask),
        ("list_files", {"path": "config"}, Ask),
        ("read_file", {"path": "vault/token.txt"}, Deny),
        ("search_in_code", {"query": "x", "path": "vault", "file_pattern": "*.py"}, Deny),
        ("read_file", {"path": "src/main.py"}, Allow),
    ],
)
def test_path_rules_match_every_path_argument(tool: str, arguments: dict[str, Any], kind: type) -> None:
    assert isinstance(POLICY.decide("coder", tool, arguments), kind)


def test_an_allow_rule_does_not_lift_a_secret_file() -> None:
    policy = policy_from_settings(rules={"allow": ["Read(**)"]})
    assert isinstance(policy.decide("coder", "read_file", {"path": ".env"}), Ask)


@pytest.mark.parametrize(
    "text",
    ["WebFetch(domain:example.com)", "Bash(rm *)", "Bash(a; b)", "Read(../x/**)", "Read(/etc/**)", "bash", "Bash(x"],
)
def test_unreadable_rules_are_refused_with_the_reason(text: str) -> None:
    with pytest.raises(RuleError, match="rule"):
        parse_rule(text)


def test_rules_come_from_the_approval_file(tmp_path: Path) -> None:
    path = tmp_path / "approval.yaml"
    path.write_text("approval:\n  rules:\n    allow: ['Bash(flutter test:*)']\n    deny: ['Read(secrets/**)']\n")
    policy = load_policy(path)
    assert isinstance(policy.decide("coder", "execute_command", {"command": "flutter test test/a.dart"}), Allow)
    assert isinstance(policy.decide("coder", "read_file", {"path": "secrets/a"}), Deny)
    path.write_text("approval:\n  rules:\n    allow: ['WebFetch(domain:x)']\n")
    with pytest.raises(ApprovalConfigError, match="WebFetch"):
        load_policy(path)
    path.write_text("approval:\n  rules:\n    allowed: []\n")
    with pytest.raises(ApprovalConfigError, match="rules"):
        load_policy(path)


def test_always_covers_one_tool_with_one_exact_simple_command() -> None:
    spec = tool_rules("execute_command")
    assert spec is not None
    rule = always_rule("execute_command", spec, {}, read_command_line("npm run build"))
    assert rule is not None
    session = Rules(allow=(rule,))
    assert isinstance(POLICY.decide("coder", "execute_command", {"command": "npm run build"}, None, session), Allow)
    for other in ("npm run build --prod", "npm run build && rm -rf src", "npm run"):
        assert isinstance(POLICY.decide("coder", "execute_command", {"command": other}, None, session), Ask)


@pytest.mark.parametrize("line", ["git status && rm -rf src", "npm test $(x)", "ls *.py", "a=1 npm test"])
def test_always_is_never_granted_for_a_compound_or_hazardous_line(line: str) -> None:
    spec = tool_rules("execute_command")
    assert spec is not None
    assert always_rule("execute_command", spec, {}, read_command_line(line)) is None


def test_always_for_a_file_covers_that_path_only() -> None:
    spec = tool_rules("write_file")
    assert spec is not None
    rule = always_rule("write_file", spec, {"path": "./docs/a.md", "content": "x"}, None)
    assert rule is not None
    session = Rules(allow=(rule,))
    same = POLICY.decide("coder", "write_file", {"path": "docs/a.md", "content": "y"}, None, session)
    other = POLICY.decide("ask", "write_file", {"path": "docs/b.txt", "content": "y"}, None, session)
    assert isinstance(same, Allow)
    assert isinstance(other, Ask)
    assert isinstance(POLICY.decide("coder", "read_file", {"path": "docs/a.md"}, None, session), Allow)
