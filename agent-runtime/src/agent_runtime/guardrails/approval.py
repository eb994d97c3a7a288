"""The approval policy: does this call run at once (Allow), wait for the user (Ask), or never run (Deny)?

Defaults follow the earlier backend: ``write_file``, ``create_directory``, ``execute_command``, ``delete_file`` and
``move_file`` need approval, reads do not. Commands get a closer look (see :mod:`command_line`):

1. deny rules first, on every part and on every fragment inside substitutions: ``sudo``/``su``/``doas``, ``mkfs*``,
   ``shutdown``…, ``rm -r`` of ``/``, ``~`` or ``$HOME``, ``dd of=/dev/…``, a download piped into a shell, a fork
   bomb, plus the configured ``denied_commands`` → Deny;
2. a gated command with any hazard (redirect, substitution, expansion, …) → Ask, naming the hazard;
3. with ``auto_approve_read_only_commands``, a command whose every part starts with an allow-listed prefix and has no
   writing option, path outside the project or secret file → Allow; anything else → Ask.

Reads run without asking, except of files that typically hold credentials (``.env``, ``.env.production``, private
keys, ``.netrc``, ``.npmrc``, ``credentials.json``…; ``.env.example`` and ``*.pub`` are fine): their content would go
to the model provider, so ``read_file`` of such a path, ``search_in_code`` limited to such names and an allow-listed
command naming one ask first, whatever the gating.

The policy is built from settings values and/or a YAML file by the composition root; it reads no environment itself::

    approval:
      gated_tools: [write_file, create_directory, execute_command, delete_file, move_file]
      auto_approve_read_only_commands: true
      read_only_commands: ["ls", "git status", "flutter analyze"]
      denied_commands: ["sudo", "shutdown"]
      agents:
        ask: {gated_tools: []}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from agent_runtime.agents.tools import canonical_tool_name
from agent_runtime.guardrails.command_line import CommandPart, loose_parts, parse_command_line
from agent_runtime.guardrails.permissions import UnsafePath, normalise_path

DEFAULT_GATED_TOOLS = frozenset({"write_file", "create_directory", "execute_command", "delete_file", "move_file"})
DEFAULT_READ_ONLY_COMMANDS = (
    "ls", "pwd", "cat", "head", "tail", "wc", "echo", "grep", "which",
    "git status", "git diff", "git log", "git show", "git branch --list", "git rev-parse",
    "flutter analyze", "flutter doctor", "flutter --version", "dart analyze", "dart --version", "fvm list",
)  # fmt: skip
DEFAULT_DENIED_COMMANDS = (
    "sudo", "su", "doas", "mkfs", "shutdown", "reboot", "halt", "poweroff", "init 0", "init 6", "format",
    "diskpart", "chown -R /", "chmod -R 777 /",
)  # fmt: skip
# Options that make an otherwise read-only command write files or run programs.
_WRITING_OPTIONS = ("--output", "--write", "--exec", "--pre", "--ext-diff", "-o=", "--config")
_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "fish", "python", "python3", "perl", "ruby", "node", "pwsh"})
_DOWNLOADERS = frozenset({"curl", "wget", "fetch"})
_SECRET_NAMES = frozenset(
    {".netrc", ".npmrc", ".pypirc", ".git-credentials", ".htpasswd", ".pgpass", "credentials", "credentials.json"}
)
_SECRET_SUFFIXES = (".pem", ".key", ".p12", ".pfx", ".jks", ".keystore", ".kdbx", ".tfstate")
_SECRET_PREFIXES = ("id_rsa", "id_dsa", "id_ecdsa", "id_ed25519")
_PUBLIC_SUFFIXES = (".pub", ".example", ".sample", ".template", ".dist")


@dataclass(frozen=True, slots=True)
class Allow:
    """Run without asking."""


@dataclass(frozen=True, slots=True)
class Ask:
    """Ask the user first; ``reason`` is shown with the approval request."""

    reason: str


@dataclass(frozen=True, slots=True)
class Deny:
    """Never run; ``reason`` is told to the model as the failed result of its call and shown to the user in a
    ``tool_refused`` chunk; ``rule`` names the rule that refused it."""

    reason: str
    rule: str = "deny"


Decision = Allow | Ask | Deny


@dataclass(frozen=True, slots=True)
class ApprovalPolicy:
    """The approval rules; :meth:`decide` is the whole interface. ``agent_gated_tools`` overrides per agent."""

    gated_tools: frozenset[str] = DEFAULT_GATED_TOOLS
    auto_approve_read_only_commands: bool = True
    read_only_commands: tuple[tuple[str, ...], ...] = tuple(tuple(c.split()) for c in DEFAULT_READ_ONLY_COMMANDS)
    denied_commands: tuple[tuple[str, ...], ...] = tuple(tuple(c.split()) for c in DEFAULT_DENIED_COMMANDS)
    agent_gated_tools: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def decide(self, agent_id: str, tool_name: str, arguments: Mapping[str, Any]) -> Decision:
        """The decision for one call of ``tool_name`` by ``agent_id`` with these (validated) arguments."""
        name = canonical_tool_name(tool_name)
        gated = name in self.agent_gated_tools.get(agent_id, self.gated_tools)
        if name != "execute_command":
            if gated:
                return Ask(f"{name} changes the project")
            target = _read_target(name, arguments)
            return Ask(_secret_reason(target)) if target is not None and secret_file(target) else Allow()
        command = arguments.get("command")
        if not isinstance(command, str) or not command.strip():
            return Deny("execute_command needs a non-empty 'command' string")
        denial = self._denial(command)
        if denial is not None:
            return Deny(denial)
        if not gated:
            return Allow()
        return self._command_decision(command, arguments)

    def _command_decision(self, command: str, arguments: Mapping[str, Any]) -> Decision:
        parsed = parse_command_line(command)
        if parsed.hazards:
            return Ask(f"the command contains {', '.join(parsed.hazards)}")
        if not self.auto_approve_read_only_commands:
            return Ask("commands need approval")
        for part in parsed.parts:
            reason = self._not_read_only(part)
            if reason is not None:
                return Ask(reason)
        return Allow()

    def _not_read_only(self, part: CommandPart) -> str | None:
        """Why this part is not known to be read-only, or None when it is."""
        words = part.words
        if not any(words[: len(prefix)] == prefix for prefix in self.read_only_commands):
            return f"'{' '.join(words[:2])}' is not on the read-only list"
        for word in words[1:]:
            if word.startswith(_WRITING_OPTIONS):
                return f"the option '{word}' can write files or run programs"
            # An option's value ('--file=/etc/passwd') is a path as much as a plain argument is.
            value = word.split("=", 1)[1] if word.startswith("-") and "=" in word else word
            if not value.startswith("-") and _escapes_project(value):
                return f"'{value}' is outside the project"
            if secret_file(value):
                return _secret_reason(value)
        return None

    def _denial(self, command: str) -> str | None:
        parsed = parse_command_line(command)
        candidates = [part.words for part in parsed.parts]
        if parsed.hazards:
            # Substitutions and groups hide commands inside words; without them the quoted parse is exact, and a
            # quoted "; sudo" in a commit message must not be denied.
            candidates += loose_parts(command)
        for words in candidates:
            reason = _builtin_denial(words) or self._configured_denial(words)
            if reason is not None:
                return reason
        for previous, part in zip(parsed.parts, parsed.parts[1:], strict=False):
            if part.after == "|" and previous.words[0] in _DOWNLOADERS and _program(part.words) in _SHELLS:
                return "piping a download into a shell runs remote code and is never allowed"
        return None

    def _configured_denial(self, words: tuple[str, ...]) -> str | None:
        for denied in self.denied_commands:
            if _starts_with(words, denied):
                return f"'{' '.join(denied)}' is not allowed"
        return None


def _starts_with(words: tuple[str, ...], prefix: tuple[str, ...]) -> bool:
    if len(words) < len(prefix) or words[: len(prefix) - 1] != prefix[:-1]:
        return False
    head, last = words[len(prefix) - 1], prefix[-1]
    # 'mkfs' also denies 'mkfs.ext4'; paths such as '/usr/bin/sudo' count as 'sudo'.
    if len(prefix) == 1:
        head = head.rsplit("/", 1)[-1]
        return head == last or head.startswith(last + ".")
    return head == last


def _program(words: tuple[str, ...]) -> str:
    index = 1 if words[0] in ("sudo", "env", "exec", "command") and len(words) > 1 else 0
    return words[index].rsplit("/", 1)[-1]


def _builtin_denial(words: tuple[str, ...]) -> str | None:
    program = _program(words)
    if program == "rm" and any(w.startswith("-") and ("r" in w.lower() or w == "--recursive") for w in words[1:]):
        targets = [w for w in words[1:] if not w.startswith("-")]
        if any(t.rstrip("/*") in ("", "~", "$HOME", "${HOME}", ".", "..") for t in targets):
            return "recursive removal of the root, home or project directory is never allowed"
    if program == "dd" and any(w.startswith("of=/dev/") for w in words):
        return "writing to a raw device is never allowed"
    if program.startswith(":") or any(":|:" in w for w in words):
        return "a fork bomb is never allowed"
    return None


def secret_file(path: str) -> bool:
    """Whether the file's name says it typically holds credentials (module docstring)."""
    name = path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1].lower().strip("'\"")
    if not name or name.endswith(_PUBLIC_SUFFIXES):
        return False
    return (
        name == ".env"
        or name.startswith(".env.")
        or name in _SECRET_NAMES
        or name.endswith(_SECRET_SUFFIXES)
        or name.startswith(_SECRET_PREFIXES)
    )


def _read_target(tool: str, arguments: Mapping[str, Any]) -> str | None:
    """The file name a reading tool is pointed at, if any."""
    value = (
        arguments.get("path")
        if tool == "read_file"
        else arguments.get("file_pattern")
        if tool == "search_in_code"
        else None
    )
    return value if isinstance(value, str) else None


def _secret_reason(path: str) -> str:
    return f"'{path}' may hold secrets, and what is read goes to the model"


def _escapes_project(word: str) -> bool:
    if "/" not in word and "~" not in word and ".." not in word:
        return False
    try:
        normalise_path(word)
    except UnsafePath:
        return True
    return False


def policy_from_settings(
    *,
    gated_tools: Iterable[str] | None = None,
    auto_approve_read_only_commands: bool = True,
    read_only_commands: Iterable[str] | None = None,
    denied_commands: Iterable[str] | None = None,
    agent_gated_tools: Mapping[str, Iterable[str]] | None = None,
) -> ApprovalPolicy:
    """A policy from plain values (settings fields); None keeps the default for that rule."""
    policy = ApprovalPolicy(auto_approve_read_only_commands=auto_approve_read_only_commands)
    changes: dict[str, Any] = {}
    if gated_tools is not None:
        changes["gated_tools"] = frozenset(canonical_tool_name(name) for name in gated_tools)
    if read_only_commands is not None:
        changes["read_only_commands"] = _prefixes(read_only_commands)
    if denied_commands is not None:
        changes["denied_commands"] = (*policy.denied_commands, *_prefixes(denied_commands))
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
    unknown = (
        set(section)
        - {"gated_tools", "auto_approve_read_only_commands", "read_only_commands"}
        - {
            "denied_commands",
            "agents",
        }
    )
    if unknown:
        raise ApprovalConfigError(f"approval: unknown keys {sorted(unknown)}")
    agents = section.get("agents") or {}
    return policy_from_settings(
        gated_tools=_strings(section, "gated_tools"),
        auto_approve_read_only_commands=bool(section.get("auto_approve_read_only_commands", True)),
        read_only_commands=_strings(section, "read_only_commands"),
        denied_commands=_strings(section, "denied_commands"),
        agent_gated_tools={str(agent): _strings(fields, "gated_tools") or [] for agent, fields in agents.items()},
    )


def _strings(section: Mapping[str, Any], key: str) -> list[str] | None:
    value = section.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ApprovalConfigError(f"approval: '{key}' must be a list of strings")
    return value
