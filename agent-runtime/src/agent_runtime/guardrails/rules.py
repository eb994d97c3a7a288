"""Rules people write, in the style Claude Code users know: ``Tool`` or ``Tool(specifier)``, in three lists.

* ``Bash(git status)``: exactly that simple command; ``Bash(npm test:*)``: any simple command whose words start
  with ``npm test``; ``Bash``: every command. ``Bash`` names ``execute_command``.
* ``Read(src/**)``, ``Write(docs/**/*.md)``: calls whose every path argument matches the glob (``**`` any number of
  directories, ``*`` and ``?`` within one name; ``dir/**`` covers ``dir`` itself, so a listing of it). ``Read``
  names the reading tools (``read_file``, ``list_files``, ``search_in_code``), ``Write`` and ``Edit`` the writing
  ones (``write_file``, ``create_directory``).
* A tool's own name works too: ``read_file(src/**)``, ``execute_command(git status)``.
* There is no web tool in this runtime, so ``WebFetch(domain:…)`` is refused as an unknown tool.

Precedence: **deny → ask → allow**. A deny or ask rule about commands matches any command of the line, nested ones
included (``ls && git push`` is caught by ``Bash(git push:*)``); an allow rule matches only a line that is exactly one
simple command the parser fully understood, never a compound line. An allow rule lifts only "not on the read-only
list" and plain gating: the built-in deny list, hazards, secret files and paths outside the project still hold.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from agent_runtime.agents.tool_specs import ToolRules
from agent_runtime.agents.tools import canonical_tool_name, tool_rules
from agent_runtime.guardrails.decisions import Allow, Ask, Deny
from agent_runtime.guardrails.permissions import UnsafePath, normalise_path
from agent_runtime.guardrails.shell import ShellReading, read_command_line

_READ = frozenset({"read_file", "list_files", "search_in_code"})
_WRITE = frozenset({"write_file", "create_directory"})
_COMMAND = frozenset({"execute_command"})
TOOL_NAMES: Mapping[str, frozenset[str]] = {
    "Bash": _COMMAND,
    "Read": _READ,
    "Write": _WRITE,
    "Edit": _WRITE,
    **{name: frozenset({name}) for name in (*_READ, *_WRITE, *_COMMAND)},
}
_RULE = re.compile(r"^\s*([A-Za-z_]+)\s*(?:\((.*)\))?\s*$", re.DOTALL)


class RuleError(ValueError):
    """A rule that cannot be read; the message names it and says why."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One parsed rule. ``words`` (with ``prefix``) for commands, ``paths`` for path tools; neither: the whole tool."""

    text: str
    tools: frozenset[str]
    words: tuple[str, ...] | None = None
    prefix: bool = False
    paths: re.Pattern[str] | None = None

    def matches_words(self, words: tuple[str, ...]) -> bool:
        if self.words is None:
            return True
        return words[: len(self.words)] == self.words if self.prefix else words == self.words

    def matches_paths(self, tool: ToolRules, arguments: Mapping[str, Any]) -> bool:
        if self.paths is None:
            return True
        values = [arguments.get(key, ".") for key in tool.path_args]
        if not values:
            return False
        try:
            return all(isinstance(v, str) and self.paths.fullmatch(normalise_path(v)) for v in values)
        except UnsafePath:
            return False


def parse_rule(text: str) -> Rule:
    """``Bash(npm test:*)`` → a :class:`Rule`; :class:`RuleError` for anything else."""
    match = _RULE.match(text) if isinstance(text, str) else None
    if match is None:
        raise RuleError(f"rule {text!r}: write Tool or Tool(specifier), e.g. Bash(git status) or Read(src/**)")
    name, specifier = match.group(1), match.group(2)
    tools = TOOL_NAMES.get(name)
    if tools is None:
        raise RuleError(f"rule {text!r}: unknown tool '{name}'; known: {', '.join(sorted(TOOL_NAMES))}")
    if specifier is None or specifier.strip() in ("", "*", "**"):
        return Rule(text, tools)
    specifier = specifier.strip()
    if tools == _COMMAND:
        prefix = specifier.endswith(":*")
        words = tuple(specifier.removesuffix(":*").split())
        if not words or any(char in specifier.removesuffix(":*") for char in "*?;&|<>$`\\\n"):
            raise RuleError(f"rule {text!r}: a command rule is words, optionally ending in ':*' (a prefix)")
        return Rule(text, tools, words=words, prefix=prefix)
    return Rule(text, tools, paths=_path_glob(text, specifier))


def _path_glob(text: str, glob: str) -> re.Pattern[str]:
    try:
        normalise_path(glob.replace("**", "x").replace("*", "x").replace("?", "x"))
    except UnsafePath as exc:
        raise RuleError(f"rule {text!r}: {exc.reason}") from None
    out: list[str] = []
    segments = glob.strip("/").split("/")
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**" and last:  # 'config/**' covers the directory itself (a listing or search of it) too
            return re.compile("".join(out).removesuffix("/") + ("(?:/.*)?" if out else ".*"))
        if segment == "**":
            out.append("(?:[^/]+/)*")
            continue
        pattern = "".join("[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c) for c in segment)
        out.append(pattern + ("" if last else "/"))
    return re.compile("".join(out))


@dataclass(frozen=True, slots=True)
class Rules:
    """The three lists; :meth:`command` and :meth:`call` give the first deny, else ask, else allow match."""

    allow: tuple[Rule, ...] = ()
    ask: tuple[Rule, ...] = ()
    deny: tuple[Rule, ...] = ()

    @classmethod
    def parse(cls, *, allow: Iterable[str] = (), ask: Iterable[str] = (), deny: Iterable[str] = ()) -> Rules:
        return cls(
            tuple(parse_rule(r) for r in allow), tuple(parse_rule(r) for r in ask), tuple(parse_rule(r) for r in deny)
        )

    def with_allowed(self, rule: Rule) -> Rules:
        return Rules((*self.allow, rule), self.ask, self.deny)

    def merged(self, other: Rules) -> Rules:
        return Rules((*self.allow, *other.allow), (*self.ask, *other.ask), (*self.deny, *other.deny))

    def __bool__(self) -> bool:
        return bool(self.allow or self.ask or self.deny)

    def command(self, reading: ShellReading) -> Allow | Ask | Deny | None:
        """The configured answer for a command line, or None when no rule matches."""
        for rules, answer in ((self.deny, Deny), (self.ask, Ask)):
            for rule in rules:
                if "execute_command" in rule.tools and any(rule.matches_words(c.words) for c in reading.commands):
                    return answer(f"the rule {rule.text} matches", f"rule:{rule.text}")
        simple = len(reading.commands) == 1 and reading.commands[0].exact and not reading.hazards
        for rule in self.allow:
            if simple and "execute_command" in rule.tools and rule.matches_words(reading.commands[0].words):
                return Allow(f"rule:{rule.text}")
        return None

    def call(self, name: str, tool: ToolRules, arguments: Mapping[str, Any]) -> Allow | Ask | Deny | None:
        """The configured answer for a call of a tool with path arguments, or None when no rule matches."""
        for rules, answer in ((self.deny, Deny), (self.ask, Ask)):
            for rule in rules:
                if name in rule.tools and rule.matches_paths(tool, arguments):
                    return answer(f"the rule {rule.text} matches", f"rule:{rule.text}")
        for rule in self.allow:
            if name in rule.tools and rule.matches_paths(tool, arguments):
                return Allow(f"rule:{rule.text}")
        return None


def always_rule(name: str, tool: ToolRules, arguments: Mapping[str, Any], reading: ShellReading | None) -> Rule | None:
    """The narrowest rule an "always allow" of this call may add to a session: one tool with one exact simple
    command, or one tool with its exact paths; None when the call is not that narrow (a compound or hazardous line,
    no path argument), so the approval counts once."""
    if tool.command_arg is not None:
        if reading is None or reading.hazards or len(reading.commands) != 1 or not reading.commands[0].exact:
            return None
        words = reading.commands[0].words
        return Rule(f"{name}({' '.join(words)})", frozenset({name}), words=words)
    values = [arguments.get(key) for key in tool.path_args]
    if not values or not all(isinstance(value, str) for value in values):
        return None
    try:
        exact = {normalise_path(value) for value in values if isinstance(value, str)}
    except UnsafePath:
        return None
    if len(exact) != 1:
        return None
    (path,) = exact
    return Rule(f"{name}({path})", frozenset({name}), paths=re.compile(re.escape(path)))


def always_rule_for(tool_name: str, arguments: Mapping[str, Any]) -> str | None:
    """The text of the rule an "always allow" of this call adds (:func:`always_rule`), or None."""
    name = canonical_tool_name(tool_name)
    tool = tool_rules(name)
    if tool is None:
        return None
    command = arguments.get(tool.command_arg) if tool.command_arg is not None else None
    reading = read_command_line(command) if isinstance(command, str) else None
    rule = always_rule(name, tool, arguments, reading)
    if rule is None:
        return None
    try:
        parse_rule(rule.text)  # what is stored must read back as the same rule
    except RuleError:
        return None
    return rule.text


@functools.lru_cache(maxsize=1024)
def session_rules(texts: tuple[str, ...], denied: tuple[str, ...] = ()) -> Rules:
    """A session's stored "always allow" (``texts``) and "always reject" (``denied``) rules; a text that no longer
    parses is dropped (it allows nothing; a dropped reject asks again)."""
    return Rules(allow=_parsed(texts), deny=_parsed(denied))


def _parsed(texts: tuple[str, ...]) -> tuple[Rule, ...]:
    rules: list[Rule] = []
    for text in texts:
        try:
            rules.append(parse_rule(text))
        except RuleError:
            continue
    return tuple(rules)
