"""A command line read as a POSIX shell would read it, with tree-sitter's bash grammar (ADR 0009).

:func:`read_command_line` returns every simple command of the line, nested ones included (inside ``$(…)``,
backticks, ``<(…)``, subshells, groups, ``if``/``for``/``while`` bodies), each with its words as the shell would pass
them to the program when that is knowable without running anything, and the list of *hazards*: every construct
whose effect the policy cannot evaluate statically. A word is resolved only from literal text: plain words with
backslash escapes, ``'…'``, ``"…"`` without expansions, ``$'…'`` (ANSI-C, decoded; still a hazard because ``/bin/sh``
may not support it) and concatenations of these. Anything else is a hazard and the word keeps its raw text, so
deny rules still see ``sudo`` in ``"$(sudo reboot)"``. A line the grammar cannot parse completely is a hazard too.

The reading never makes a line allowed by itself; :mod:`commands` decides.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import tree_sitter
import tree_sitter_bash

_GLOB = frozenset("*?[")
# Nodes that only group or separate commands; their commands are read, and the group itself is no hazard.
_LISTS = frozenset({"program", "list", "pipeline"})
# Nodes whose commands run in ways a plain list does not show: read for deny rules, reported as hazards.
_HAZARDS = {
    "subshell": "a subshell",
    "compound_statement": "a command group",
    "if_statement": "a shell 'if'",
    "for_statement": "a shell loop",
    "c_style_for_statement": "a shell loop",
    "while_statement": "a shell loop",
    "case_statement": "a shell 'case'",
    "function_definition": "a function definition",
    "negated_command": "a negated command",
    "test_command": "a test expression",
    "declaration_command": "a declaration (export, declare, local…)",
    "unset_command": "unset",
    "variable_assignment": "a variable assignment",
    "variable_assignments": "a variable assignment",
    "command_substitution": "command substitution",
    "process_substitution": "process substitution",
    "simple_expansion": "a variable expansion",
    "expansion": "a parameter expansion",
    "arithmetic_expansion": "arithmetic expansion",
    "brace_expression": "brace expansion",
    "heredoc_redirect": "a here-document",
    "herestring_redirect": "a here-string",
    "translated_string": "a translated string",
}
_PIPES = frozenset({"|", "|&"})
_SEPARATORS = _PIPES | {";", "&&", "||", "\n", "&"}
_UNSEEN = "a control character the shell and the parser may read differently"


@dataclass(frozen=True, slots=True)
class SimpleCommand:
    """One command: its words (resolved where possible, else raw text) and whether every word was resolved.

    ``piped_from`` is the command whose output feeds this one through ``|`` (None otherwise)."""

    words: tuple[str, ...]
    exact: bool
    piped_from: SimpleCommand | None = None


@dataclass(slots=True)
class ShellReading:
    """Every simple command of the line (nested ones too) and the hazards, each named once, in order."""

    commands: list[SimpleCommand] = field(default_factory=list)
    hazards: list[str] = field(default_factory=list)

    def hazard(self, what: str) -> None:
        if what not in self.hazards:
            self.hazards.append(what)


@functools.cache
def _parser() -> tree_sitter.Parser:
    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_bash.language()))


def read_command_line(line: str) -> ShellReading:
    """Read ``line`` as ``sh -c line`` would (module docstring)."""
    reading = ShellReading()
    data = line.encode("utf-8", "surrogatepass")
    tree = _parser().parse(data)
    if tree.root_node.has_error:
        reading.hazard("shell syntax the parser does not fully understand")
    if any((char < " " and char not in "\t\n") or char == "\x7f" for char in line):
        reading.hazard(_UNSEEN)  # '\r' is a word character for sh but whitespace for the grammar
    _Reader(data, reading).statement(tree.root_node)
    return reading


class _Reader:
    def __init__(self, data: bytes, reading: ShellReading) -> None:
        self.data = data
        self.reading = reading

    def text(self, node: tree_sitter.Node) -> str:
        return self.data[node.start_byte : node.end_byte].decode("utf-8", "replace")

    def statement(self, node: tree_sitter.Node, piped_from: SimpleCommand | None = None) -> SimpleCommand | None:
        """Read a statement; returns the last simple command it ran (for pipes), if it is one."""
        kind = node.type
        if kind == "command":
            return self.command(node, piped_from)
        if kind == "redirected_statement":
            return self.redirected(node, piped_from)
        if kind == "comment":  # sh ignores the rest of the line; a client that splits words itself may not
            self.reading.hazard("a comment")
            return None
        if not node.is_named:
            return None
        if kind in _LISTS:
            return self.sequence(node)
        if kind == "ERROR":
            self.reading.hazard("shell syntax the parser does not fully understand")
        else:
            self.reading.hazard(_HAZARDS.get(kind, f"the shell construct '{kind}'"))
        for child in node.named_children:
            self.nested(child)
        return None

    def sequence(self, node: tree_sitter.Node) -> SimpleCommand | None:
        previous: SimpleCommand | None = None
        piped = False
        for child in node.children:
            if not child.is_named:
                piped = child.type in _PIPES
                if child.type not in _SEPARATORS:
                    self.reading.hazard(f"the shell token '{child.type}' out of place")
                if child.type == "&":
                    self.reading.hazard("a background job")
                continue
            previous = self.statement(child, previous if piped else None)
            piped = False
        return previous

    def nested(self, node: tree_sitter.Node) -> None:
        """Commands inside another construct (substitutions, bodies): read for the deny rules."""
        if node.type in ("command", "redirected_statement", *_LISTS) or node.type in _HAZARDS:
            self.statement(node)
            return
        for child in node.named_children:
            self.nested(child)

    def redirected(self, node: tree_sitter.Node, piped_from: SimpleCommand | None) -> SimpleCommand | None:
        body = node.child_by_field_name("body")
        for redirect in node.children_by_field_name("redirect"):
            self.redirect(redirect)
        return self.statement(body, piped_from) if body is not None else None

    def redirect(self, node: tree_sitter.Node) -> None:
        self.reading.hazard(_HAZARDS.get(node.type, "a redirect"))
        for child in node.named_children:
            self.nested(child)

    def command(self, node: tree_sitter.Node, piped_from: SimpleCommand | None) -> SimpleCommand:
        words: list[str] = []
        exact = True
        for child in node.named_children:
            if child.type == "variable_assignment":
                self.reading.hazard(_HAZARDS["variable_assignment"])
                self.nested(child)
                exact = False
                continue
            if child.type.endswith("redirect"):
                self.redirect(child)
                continue
            target = child.named_children[0] if child.type == "command_name" and child.named_children else child
            word = self.word(target)
            exact = exact and word is not None
            words.append(word if word is not None else self.text(target))
        command = SimpleCommand(tuple(words), exact, piped_from)
        self.reading.commands.append(command)
        return command

    def word(self, node: tree_sitter.Node) -> str | None:
        """The word's value as the shell passes it, or None (after noting the hazard) when it needs expanding."""
        kind = node.type
        if kind in ("word", "number"):
            return self.plain(self.text(node))
        if kind == "raw_string":
            return self.text(node)[1:-1]
        if kind == "string":
            parts = []
            for child in node.named_children:
                if child.type != "string_content":
                    self.reading.hazard(_HAZARDS.get(child.type, "an expansion inside double quotes"))
                    self.nested(child)
                    return None
                parts.append(_unescape_double_quoted(self.text(child)))
            return "".join(parts)
        if kind == "ansi_c_string":
            self.reading.hazard("ANSI-C quoting ($'…')")
            return decode_ansi_c(self.text(node)[2:-1])
        if kind == "concatenation":
            values = [self.word(child) for child in node.named_children]
            if any(value is None for value in values):
                return None
            if any(child.type == "word" and "{" in self.text(child) for child in node.named_children):
                self.reading.hazard("brace expansion")
            return "".join(value for value in values if value is not None)
        self.reading.hazard(_HAZARDS.get(kind, f"the shell construct '{kind}'"))
        self.nested(node)
        return None

    def plain(self, raw: str) -> str | None:
        """An unquoted word: backslash escapes removed; globs, a leading tilde and brace lists are hazards."""
        if raw.startswith("~"):
            self.reading.hazard("tilde expansion")
        if "{" in raw and ("," in raw or ".." in raw):
            self.reading.hazard("brace expansion")
        out: list[str] = []
        index = 0
        while index < len(raw):
            char = raw[index]
            if char == "\\":
                out.append(raw[index + 1 : index + 2])
                index += 2
                continue
            if char in _GLOB:
                self.reading.hazard("a glob (the shell expands it to file names)")
            if char == "$":
                self.reading.hazard("an expansion")
            out.append(char)
            index += 1
        return "".join(out)


def _unescape_double_quoted(text: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(text):
        if text[index] == "\\" and text[index + 1 : index + 2] in ('"', "\\", "$", "`", "\n"):
            out.append(text[index + 1] if text[index + 1] != "\n" else "")
            index += 2
            continue
        out.append(text[index])
        index += 1
    return "".join(out)


_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_SIMPLE_ESCAPES |= {"v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"}


def decode_ansi_c(body: str) -> str:
    """The value of bash's ``$'…'`` quoting (``\\x73udo`` → ``sudo``): simple, octal, hex and Unicode escapes."""
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char != "\\" or index + 1 >= len(body):
            out.append(char)
            index += 1
            continue
        code = body[index + 1]
        index += 2
        if code in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[code])
            continue
        digits, base, limit = {"x": ("0123456789abcdefABCDEF", 16, 2), "u": ("0123456789abcdefABCDEF", 16, 4)}.get(
            code, ("0123456789abcdefABCDEF", 16, 8) if code == "U" else ("01234567", 8, 3)
        )
        if base == 8:
            index -= 1  # the first octal digit is the code itself
        start = index
        while index < len(body) and index - start < limit and body[index] in digits:
            index += 1
        if index == start:
            out.append("\\" + (code if base != 8 else ""))
            continue
        value = int(body[start:index], base)
        out.append(chr(value) if value < 0x110000 else "\ufffd")
    return "".join(out)
