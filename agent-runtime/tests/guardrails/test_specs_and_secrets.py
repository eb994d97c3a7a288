"""Rules derive from the tool specs (an incomplete spec fails closed); secrets are checked in every argument."""

from __future__ import annotations

import pytest

from agent_runtime.agents import tools
from agent_runtime.agents.catalogue import builtin_agents
from agent_runtime.agents.tool_specs import IDE_SPECS, ToolSpec
from agent_runtime.guardrails.approval_policy import Allow, ApprovalPolicy, Ask, ClientContext, Deny
from agent_runtime.guardrails.permissions import Refused, check_permission
from agent_runtime.guardrails.secrets import globs_intersect, pattern_may_match_secret, secret_file

POLICY = ApprovalPolicy()
CODER = builtin_agents(multi_agent_mode=True)["coder"]
EXCLUDES = ClientContext(excludes_secrets=True)


def test_every_shipped_tool_has_complete_rules() -> None:
    assert [name for name, spec in tools.ALL_SPECS.items() if spec.rules is None] == []


def test_the_client_tools_are_those_whose_spec_names_a_client_capability() -> None:
    assert frozenset(IDE_SPECS) == tools.IDE_TOOLS
    assert all(spec.rules is not None and spec.rules.client_capability == name for name, spec in IDE_SPECS.items())


def test_a_tool_with_an_incomplete_spec_is_neither_offered_nor_run(monkeypatch: pytest.MonkeyPatch) -> None:
    bare = ToolSpec("read_file", "no rules", tools.ALL_SPECS["read_file"].parameters)
    monkeypatch.setitem(tools.ALL_SPECS, "read_file", bare)
    tools.tool_schemas.cache_clear()
    try:
        offered = [entry["function"]["name"] for entry in tools.tool_schemas(("read_file", "list_files"))]
        assert offered == ["list_files"]
        refusal = check_permission(CODER, "read_file", {"path": "README.md"})
        assert isinstance(refusal, Refused)
        assert refusal.rule == "spec"
        assert isinstance(POLICY.decide("coder", "read_file", {"path": "README.md"}), Deny)
    finally:
        tools.tool_schemas.cache_clear()


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("list_files", {"path": ".", "pattern": "../*"}),
        ("search_in_code", {"query": "KEY", "file_pattern": "../../*"}),
        ("search_in_code", {"query": "KEY", "path": "/etc"}),
        ("execute_command", {"command": "ls", "cwd": "../.."}),
    ],
)
def test_path_and_pattern_arguments_outside_the_project_are_refused(tool: str, arguments: dict[str, str]) -> None:
    refusal = check_permission(CODER, tool, arguments)
    assert isinstance(refusal, Refused)
    assert refusal.rule == "path"


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("read_file", {"path": ".env"}),
        ("read_file", {"path": "config/id_ed25519"}),
        ("list_files", {"path": ".", "pattern": ".env*"}),
        ("list_files", {"path": ".", "pattern": ".e*"}),
        ("search_in_code", {"query": "KEY", "file_pattern": ".env*"}),
        ("search_in_code", {"query": "KEY", "file_pattern": "*"}),
        ("search_in_code", {"query": "KEY", "file_pattern": "id_rs?"}),
        ("search_in_code", {"query": "KEY"}),
        ("search_in_code", {"query": "KEY", "path": "src"}),
        ("list_files", {"path": ".", "pattern": ".?"}),
    ],
)
def test_arguments_that_may_reach_a_secret_ask(tool: str, arguments: dict[str, str]) -> None:
    assert isinstance(POLICY.decide("coder", tool, arguments), Ask)


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("search_in_code", {"query": "KEY"}),
        ("search_in_code", {"query": "KEY", "file_pattern": "*"}),
        ("list_files", {"path": ".", "pattern": ".env*"}),
    ],
)
def test_a_client_that_skips_secret_files_lifts_the_pattern_and_tree_asks(tool: str, arguments: dict[str, str]) -> None:
    assert POLICY.decide("coder", tool, arguments, EXCLUDES) == Allow()


def test_a_named_secret_file_asks_even_when_the_client_skips_secrets_in_listings() -> None:
    assert isinstance(POLICY.decide("coder", "read_file", {"path": ".env"}, EXCLUDES), Ask)


@pytest.mark.parametrize("pattern", ["*.dart", "lib/**/*.dart", "src/*.py", "README.md", "*.md"])
def test_patterns_that_cannot_match_a_secret_run(pattern: str) -> None:
    assert POLICY.decide("coder", "search_in_code", {"query": "main", "file_pattern": pattern}) == Allow()


@pytest.mark.parametrize(
    ("left", "right", "meet"),
    [("*.key", "server.k?y", True), ("*.pem", "*.dart", False), (".env.*", ".e*", True), ("[!.]*", ".env", False)],
)
def test_two_globs_meet_exactly_when_a_name_matches_both(left: str, right: str, meet: bool) -> None:
    assert globs_intersect(left, right) is meet


def test_secret_names_and_patterns() -> None:
    assert secret_file("a/.ENV.local")
    assert not secret_file(".env.example")
    assert pattern_may_match_secret("server.k?y")
    assert not pattern_may_match_secret("*.dart")


@pytest.mark.parametrize("path", [".aws/credentials", ".docker/config.json", "home/.kube/config", ".ssh/known_hosts"])
def test_files_in_credential_directories_are_secret(path: str) -> None:
    assert secret_file(path)


def test_a_public_key_in_a_credential_directory_is_not_secret() -> None:
    assert not secret_file(".ssh/id_ed25519.pub")


@pytest.mark.parametrize(
    ("command", "cwd"), [("cat config", ".git"), ("cat config", ".aws"), ("head known_hosts", ".ssh")]
)
def test_command_paths_are_judged_from_the_working_directory(command: str, cwd: str) -> None:
    assert isinstance(POLICY.decide("coder", "execute_command", {"command": command, "cwd": cwd}), Ask)
    assert POLICY.decide("coder", "execute_command", {"command": command, "cwd": "src"}) == Allow()
