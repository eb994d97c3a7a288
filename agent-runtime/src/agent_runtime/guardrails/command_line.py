"""A conservative reading of a shell command line, for the approval policy.

This is not a shell parser: it finds what could make a command do more than it appears to. The line is split into
parts on ``;``, ``&&``, ``||``, ``|``, ``&`` and newlines outside quotes, each part into words (quotes removed), and
every construct that can run or hide other commands or touch files is reported as a hazard: redirects (``>``,
``>>``, ``<``, ``2>``, ``&>``, ``<<``), command substitution ``$(...)`` and backticks (also inside double quotes),
process substitution ``<(...)``/``>(...)``, parameter expansion ``$VAR``/``${...}``, unquoted backslash escapes,
subshell or group parentheses/braces, and unbalanced quotes. A hazard never makes a command allowed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_SEPARATORS = (";", "&&", "||", "|", "&", "\n", "\r")


@dataclass(frozen=True, slots=True)
class CommandPart:
    """One simple command of the line: its raw text, its words, and the separator that preceded it."""

    text: str
    words: tuple[str, ...]
    after: str = ""


@dataclass(slots=True)
class CommandLine:
    """The parts of a command line and the hazards found in it (empty when it is a plain list of commands)."""

    parts: list[CommandPart] = field(default_factory=list)
    hazards: list[str] = field(default_factory=list)


class _Scanner:
    """One left-to-right pass over the line that tracks quoting; kept small so every rule sits in one place."""

    def __init__(self, line: str) -> None:
        self.line = line
        self.result = CommandLine()
        self.words: list[str] = []
        self.word: list[str] | None = None
        self.start = 0
        self.after = ""

    def hazard(self, what: str) -> None:
        if what not in self.result.hazards:
            self.result.hazards.append(what)

    def add(self, char: str) -> None:
        if self.word is None:
            self.word = []
        self.word.append(char)

    def end_word(self) -> None:
        if self.word is not None:
            self.words.append("".join(self.word))
            self.word = None

    def end_part(self, end: int, separator: str) -> None:
        self.end_word()
        text = self.line[self.start : end].strip()
        if self.words:
            self.result.parts.append(CommandPart(text, tuple(self.words), self.after))
        elif separator or self.after:
            self.hazard("an empty command between separators")
        self.words, self.after = [], separator
        self.start = end + len(separator)


def parse_command_line(line: str) -> CommandLine:
    """Split ``line`` into parts and words and list its hazards (see the module docstring)."""
    scanner = _Scanner(line)
    index, quote = 0, ""
    while index < len(line):
        char = line[index]
        if quote == "'":
            if char == "'":
                quote = ""
            else:
                scanner.add(char)
            index += 1
            continue
        if char in "`$" and _expands(line, index):
            scanner.hazard("command substitution" if char == "`" or line[index + 1 : index + 2] == "(" else "expansion")
        if quote == '"':
            # Inside double quotes a backslash escapes these characters, and `\"` must not end the quote.
            if char == "\\" and line[index + 1 : index + 2] in ('"', "\\", "$", "`"):
                scanner.add(line[index + 1])
                index += 2
                continue
            if char == '"':
                quote = ""
            else:
                scanner.add(char)
            index += 1
            continue
        index = _unquoted(scanner, line, index)
        if char in "'\"":
            quote = char
            scanner.add("")
    if quote:
        scanner.hazard("unbalanced quotes")
    scanner.end_part(len(line), "")
    return scanner.result


def _expands(line: str, index: int) -> bool:
    if line[index] == "`":
        return True
    following = line[index + 1 : index + 2]
    return bool(following) and (following in "({" or following.isalnum() or following in "_@*#?!-$")


def _unquoted(scanner: _Scanner, line: str, index: int) -> int:
    """Handle one unquoted character at ``index``; return the index after what it consumed."""
    char = line[index]
    for separator in _SEPARATORS:
        if line.startswith(separator, index):
            if separator == "&" and line[index + 1 : index + 2] == ">":
                break
            scanner.end_part(index, separator)
            return index + len(separator)
    if char in "<>":
        kind = "process substitution" if line[index + 1 : index + 2] == "(" else "a redirect"
        scanner.hazard(kind)
        scanner.end_word()
        return index + 1
    if char in "(){}":
        scanner.hazard("a subshell or command group")
    elif char == "\\":
        scanner.hazard("a backslash escape")
        scanner.add(line[index + 1 : index + 2])
        return index + 2
    if char.isspace():
        scanner.end_word()
    elif char not in "'\"":
        scanner.add(char)
    return index + 1


_LOOSE_SPLIT = re.compile(r"[;&|\n\r()`<>{}]|\$\(")


def loose_parts(line: str) -> list[tuple[str, ...]]:
    """Word lists of every fragment between any separator, bracket or substitution, ignoring quotes.

    Used for deny rules, so that ``echo "$(sudo reboot)"`` is seen to contain ``sudo reboot``.
    """
    fragments = _LOOSE_SPLIT.split(line)
    parts = [tuple(filter(None, (word.strip("'\"") for word in fragment.split()))) for fragment in fragments]
    return [part for part in parts if part]
