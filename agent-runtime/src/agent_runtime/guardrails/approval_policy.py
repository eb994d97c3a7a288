"""The approval policy: does this call run at once (Allow), wait for the user (Ask), or never run (Deny)?

Everything is derived from the tool's spec (:class:`agent_runtime.agents.tool_specs.ToolRules`); a tool without
complete rules is denied (fail closed). For one call, in order:

1. a command argument goes through the command policy (:mod:`commands`): deny → **Deny**; hazard, not read-only,
   path outside the project or secret → **Ask** (with ``auto_approve_read_only_commands``; otherwise every command
   asks); a fully understood read-only command → **Allow**. An ungated ``execute_command`` (configured per agent)
   skips the asking, never the deny rules;
2. secrets through every tool: a path argument naming a secret file (``.env``, private keys, ``.netrc``…, see
   :mod:`secrets`) asks; a pattern argument that could match one asks, and so does a tool that reads a whole tree
   (``search_in_code`` without ``file_pattern``), unless the client declared that its listings and searches skip
   secret files (``client_tools_options.excludes_secrets``); a pattern segment that could match ``..`` asks;
3. a gated tool (``gated`` in its rules, or the configured ``gated_tools``) asks; anything else is allowed.

A call the person edited goes through all of it again (``decide(..., edited=True)``); only a plain gated ask is
approved by the edit itself.

The policy is built from settings values and/or a YAML file by the composition root; it reads no environment itself::

    approval:
      gated_tools: [write_file, create_directory, execute_command]
      auto_approve_read_only_commands: true
      read_only_commands: ["ls", "git status", "flutter analyze"]
      denied_commands: ["git push --force"]
      rules:                      # deny → ask → allow (rules.py)
        allow: ["Bash(npm test:*)", "Read(src/**)", "Write(docs/**/*.md)"]
        ask: ["Read(config/**)"]
        deny: ["Bash(git push:*)"]
      agents:
        ask: {gated_tools: []}
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from agent_runtime.agents.tool_specs import ToolRules
from agent_runtime.agents.tools import ALL_SPECS, canonical_tool_name, tool_rules
from agent_runtime.guardrails.commands import DEFAULT_DENIED_COMMANDS, DEFAULT_READ_ONLY_COMMANDS, CommandPolicy
from agent_runtime.guardrails.decisions import GATED, Allow, Ask, Deny, PolicyDecision
from agent_runtime.guardrails.rules import RuleError, Rules
from agent_runtime.guardrails.secrets import pattern_may_match_secret, secret_path

__all__ = [
    "DEFAULT_DENIED_COMMANDS",
    "DEFAULT_READ_ONLY_COMMANDS",
    "Allow",
    "ApprovalConfigError",
    "ApprovalPolicy",
    "Ask",
    "ClientContext",
    "Deny",
    "PolicyDecision",
]

DEFAULT_GATED_TOOLS = frozenset(name for name, spec in ALL_SPECS.items() if spec.rules is not None and spec.rules.gated)


@dataclass(frozen=True, slots=True)
class ClientContext:
    """What the client declared about itself (``client_tools_options``); the defaults assume the least."""

    excludes_secrets: bool = False


@dataclass(frozen=True, slots=True)
class ApprovalPolicy:
    """The approval rules; :meth:`decide` is the whole interface. ``agent_gated_tools`` overrides per agent."""

    gated_tools: frozenset[str] = DEFAULT_GATED_TOOLS
    commands: CommandPolicy = field(default_factory=CommandPolicy)
    agent_gated_tools: Mapping[str, frozenset[str]] = field(default_factory=dict)
    rules: Rules = field(default_factory=Rules)

    def decide(
        self,
        agent_id: str,
        tool_name: str,
        arguments: Mapping[str, Any],
        client: ClientContext | None = None,
        session_rules: Rules | None = None,
        *,
        edited: bool = False,
    ) -> PolicyDecision:
        """The decision for one call of ``tool_name`` by ``agent_id`` with these (validated) arguments; the
        session's own rules ("always allow" from its client) join the configured ones. ``edited``: the person wrote
        these arguments (an edit is a new call, so the whole policy again), and that approves a call that asks only
        because its tool is gated; any other reason to ask (a hazard, a secret, a command not known to be read-only)
        asks again."""
        decision = self._decide(agent_id, tool_name, arguments, client, session_rules)
        return Allow("edited") if edited and isinstance(decision, Ask) and decision.rule == GATED else decision

    def _decide(
        self,
        agent_id: str,
        tool_name: str,
        arguments: Mapping[str, Any],
        client: ClientContext | None,
        session_rules: Rules | None,
    ) -> PolicyDecision:
        name = canonical_tool_name(tool_name)
        rules = tool_rules(name)
        if rules is None:
            return Deny(f"'{tool_name}' has no complete specification on this server", "spec")
        gated = name in self.agent_gated_tools.get(agent_id, self.gated_tools)
        configured = self.rules if session_rules is None else self.rules.merged(session_rules)
        if rules.command_arg is not None:
            command = arguments.get(rules.command_arg)
            if not isinstance(command, str) or not command.strip():
                return Deny(f"{name} needs a non-empty '{rules.command_arg}' string", "command:empty")
            cwd = arguments.get("cwd")
            decision = self.commands.decide(command, configured, cwd if isinstance(cwd, str) else ".")
            if isinstance(decision, Deny) or not gated:
                return decision if isinstance(decision, Deny) else Allow("ungated")
            return decision
        answer = configured.call(name, rules, arguments) if configured else None
        if isinstance(answer, Deny | Ask):
            return answer
        secret = _secret_reason(rules, arguments, client or ClientContext())
        if secret is not None:
            return secret
        if not gated:
            return Allow()
        return answer if answer is not None else Ask(f"{name} changes the project", GATED)


def _secret_reason(rules: ToolRules, arguments: Mapping[str, Any], client: ClientContext) -> Ask | None:
    for key in rules.path_args:
        value = arguments.get(key)
        if isinstance(value, str) and secret_path(value):
            return Ask(f"'{value}' may hold secrets, and what is read goes to the model", "secret:path")
    patterns = [value for key in rules.pattern_args if isinstance(value := arguments.get(key), str)]
    for pattern in patterns:
        if any(fnmatch.fnmatchcase("..", segment) and segment.strip("*") for segment in pattern.split("/")):
            return Ask(f"the pattern '{pattern}' could match '..' and leave the project", "pattern:parent")
        if not client.excludes_secrets and pattern_may_match_secret(pattern):
            return Ask(f"the pattern '{pattern}' could match secret files such as .env", "secret:pattern")
    if rules.reads_tree and not patterns and not client.excludes_secrets:
        return Ask(
            "reading every file below a directory includes secret files such as .env (give a file pattern)",
            "secret:tree",
        )
    return None


def policy_from_settings(
    *,
    gated_tools: Iterable[str] | None = None,
    auto_approve_read_only_commands: bool = True,
    read_only_commands: Iterable[str] | None = None,
    denied_commands: Iterable[str] | None = None,
    agent_gated_tools: Mapping[str, Iterable[str]] | None = None,
    rules: Mapping[str, Iterable[str]] | None = None,
) -> ApprovalPolicy:
    """A policy from plain values (settings fields); None keeps the default for that rule. ``rules`` has the lists
    ``allow``, ``ask`` and ``deny`` of rules such as ``Bash(npm test:*)`` (:mod:`rules`)."""
    commands = CommandPolicy(auto_approve_read_only=auto_approve_read_only_commands)
    if read_only_commands is not None:
        commands = replace(commands, read_only=_prefixes(read_only_commands))
    if denied_commands is not None:
        commands = replace(commands, denied=(*commands.denied, *_prefixes(denied_commands)))
    policy = ApprovalPolicy(commands=commands)
    changes: dict[str, Any] = {}
    if gated_tools is not None:
        changes["gated_tools"] = frozenset(canonical_tool_name(name) for name in gated_tools)
    if rules is not None:
        try:
            changes["rules"] = Rules.parse(**{key: list(rules.get(key) or ()) for key in ("allow", "ask", "deny")})
        except RuleError as exc:
            raise ApprovalConfigError(f"approval: {exc}") from None
    if agent_gated_tools is not None:
        changes["agent_gated_tools"] = {
            agent: frozenset(canonical_tool_name(name) for name in names) for agent, names in agent_gated_tools.items()
        }
    return replace(policy, **changes)


def _prefixes(commands: Iterable[str]) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(command.split()) for command in commands if command.strip())


class ApprovalConfigError(Exception):
    """The approval section of the YAML file is invalid."""


def load_policy(path: Path) -> ApprovalPolicy:
    """A policy from the ``approval:`` section of a YAML file (a missing section gives the defaults).

    ``denied_commands`` from the file are added to the built-in deny list, never replace it.
    """
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ApprovalConfigError(f"cannot read approval file {path}: {exc}") from None
    section = document.get("approval") if isinstance(document, Mapping) else None
    if section is None:
        return ApprovalPolicy()
    if not isinstance(section, Mapping):
        raise ApprovalConfigError("'approval' must be a mapping")
    keys = {"gated_tools", "auto_approve_read_only_commands", "read_only_commands", "denied_commands", "agents"}
    unknown = set(section) - keys - {"rules"}
    if unknown:
        raise ApprovalConfigError(f"approval: unknown keys {sorted(unknown)}")
    agents = section.get("agents") or {}
    rules = section.get("rules")
    if rules is not None and (not isinstance(rules, Mapping) or set(rules) - {"allow", "ask", "deny"}):
        raise ApprovalConfigError("approval: 'rules' must be a mapping with the lists allow, ask and deny")
    return policy_from_settings(
        gated_tools=_strings(section, "gated_tools"),
        auto_approve_read_only_commands=bool(section.get("auto_approve_read_only_commands", True)),
        read_only_commands=_strings(section, "read_only_commands"),
        denied_commands=_strings(section, "denied_commands"),
        agent_gated_tools={str(agent): _strings(fields, "gated_tools") or [] for agent, fields in agents.items()},
        rules=None if rules is None else {key: _strings(rules, key) or [] for key in ("allow", "ask", "deny")},
    )


def _strings(section: Mapping[str, Any], key: str) -> list[str] | None:
    value = section.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ApprovalConfigError(f"approval: '{key}' must be a list of strings")
    return value
