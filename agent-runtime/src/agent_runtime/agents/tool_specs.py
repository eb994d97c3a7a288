"""The tool definitions: names, descriptions, parameter schemas (a JSON-schema subset) and the rules the policy
applies to each tool (:class:`ToolRules`).

IDE tools mirror the IDE's implementation exactly (ide-protocol §4): argument names, types and defaults. The subset
understood by :mod:`agent_runtime.agents.tools` is ``type`` (a name or a list of names), ``properties``, ``required``,
``items``, ``enum``, ``maxLength`` and ``minimum``; ``default`` and ``description`` are for the model only.

Every rule of :mod:`agent_runtime.guardrails` about a tool is derived from its spec's rules; a spec without rules
is incomplete, and an incomplete tool is never offered to the model nor run (fail closed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ToolRules:
    """What the policy must know about a tool; every field is required so that no rule is forgotten.

    ``path_args``: arguments naming a project path (normalised, refused outside the project, asked when secret).
    ``pattern_args``: glob arguments matched against project paths (refused outside the project, asked when they
    could match a secret file). ``writes``: the tool changes the files named by ``path_args`` (the agent's
    ``write_extensions`` apply). ``gated``: asks before it runs unless configured otherwise. ``reads_tree``: reads
    the contents of every file below a directory unless a pattern narrows it (asks unless the client excludes
    secret files). ``command_arg``: the argument holding a command line (judged by the command policy).
    ``client_capability``: the client tool that executes it (None: handled inside the runtime).
    """

    path_args: tuple[str, ...]
    pattern_args: tuple[str, ...]
    writes: bool
    gated: bool
    reads_tree: bool
    command_arg: str | None
    client_capability: str | None


_RUNTIME_RULES = ToolRules(
    path_args=(),
    pattern_args=(),
    writes=False,
    gated=False,
    reads_tree=False,
    command_arg=None,
    client_capability=None,
)


def _client(name: str, *, paths: tuple[str, ...] = ("path",), writes: bool = False, **rules: Any) -> ToolRules:
    fields: dict[str, Any] = {"pattern_args": (), "gated": writes, "reads_tree": False, "command_arg": None}
    return ToolRules(path_args=paths, writes=writes, client_capability=name, **(fields | rules))


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """One tool: its name, what the model is told about it, its parameter schema and its policy rules (None:
    incomplete, so never offered nor run)."""

    name: str
    description: str
    parameters: dict[str, Any]
    rules: ToolRules | None = None

    def openai(self) -> dict[str, Any]:
        """The OpenAI ``tools`` entry for this tool."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def _string(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


def _integer(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "integer", "description": description, **extra}


def _boolean(description: str, default: bool) -> dict[str, Any]:
    return {"type": "boolean", "description": description, "default": default}


_PATH = "Path relative to the project root; absolute paths and '..' are rejected."

IDE_SPECS: dict[str, ToolSpec] = {
    spec.name: spec
    for spec in (
        ToolSpec(
            "read_file",
            "Read a text file of the project. Optionally only the lines start_line..end_line (1-based, inclusive).",
            _object(
                {
                    "path": _string(_PATH),
                    "start_line": _integer("First line to read (1-based).", minimum=1),
                    "end_line": _integer("Last line to read (1-based, inclusive).", minimum=1),
                },
                ["path"],
            ),
            _client("read_file"),
        ),
        ToolSpec(
            "write_file",
            "Create or overwrite a file with the given content. The user may be asked to approve the write.",
            _object(
                {
                    "path": _string(_PATH),
                    "content": _string("The complete new content of the file."),
                    "create_dirs": _boolean("Create missing parent directories.", False),
                    "backup": _boolean("Keep a backup of the previous content.", True),
                },
                ["path", "content"],
            ),
            _client("write_file", writes=True),
        ),
        ToolSpec(
            "list_files",
            "List the files and directories under a path of the project ('.' is the project root).",
            _object(
                {
                    "path": _string(_PATH + " Use '.' for the root.", default="."),
                    "recursive": _boolean("List subdirectories too.", False),
                    "include_hidden": _boolean("Include entries whose name starts with a dot.", False),
                    "pattern": _string("Glob pattern the names must match, e.g. '*.dart'."),
                },
                ["path"],
            ),
            _client("list_files", pattern_args=("pattern",)),
        ),
        ToolSpec(
            "create_directory",
            "Create a directory of the project. The user may be asked to approve it.",
            _object(
                {"path": _string(_PATH), "recursive": _boolean("Create missing parent directories.", True)},
                ["path"],
            ),
            _client("create_directory", writes=True),
        ),
        ToolSpec(
            "execute_command",
            "Run a command in the project (e.g. 'flutter analyze', 'git status'). No pipes, chaining or redirects. "
            "The user may be asked to approve it. A non-zero exit code is still a result.",
            _object(
                {
                    "command": _string("The command line to run."),
                    "cwd": _string("Working directory relative to the project root.", default="."),
                    "timeout": _integer("Seconds before the command is stopped.", default=60, minimum=1),
                    "shell": _boolean("Run through a shell.", False),
                },
                ["command"],
            ),
            _client("execute_command", paths=("cwd",), gated=True, command_arg="command"),
        ),
        ToolSpec(
            "search_in_code",
            "Search the project's files for a text or a regular expression; returns file, line and matched text.",
            _object(
                {
                    "query": _string("Text or regular expression to find.", maxLength=1000),
                    "path": _string("Directory to search, relative to the project root.", default="."),
                    "file_pattern": _string("Glob the file names must match, e.g. '*.dart'."),
                    "case_sensitive": _boolean("Match case exactly.", False),
                    "regex": _boolean("Treat query as a regular expression.", False),
                    "max_results": _integer("Maximum number of matches.", default=100, minimum=1),
                },
                ["query"],
            ),
            _client("search_in_code", pattern_args=("file_pattern",), reads_tree=True),
        ),
    )
}

_SUBTASK = _object(
    {
        "id": _string("Optional short id of the subtask; defaults to its 1-based position."),
        "title": _string("Short title of the subtask."),
        "description": _string("What exactly to do and what the result is."),
        "agent": _string("Agent that performs it: coder, architect, debug or ask."),
        "estimated_time": _string("Estimate such as '30m', '2h' or '1h 30m'."),
        "depends_on": {
            "type": "array",
            "items": {"type": ["string", "integer"]},
            "description": "Ids (or 1-based positions) of subtasks that must finish first.",
        },
    },
    ["title", "description", "agent"],
)

RUNTIME_SPECS: dict[str, ToolSpec] = {
    spec.name: spec
    for spec in (
        ToolSpec(
            "attempt_completion",
            "Finish the task: give the user the final answer or a summary of what was done. Ends your turn.",
            _object({"result": _string("The final answer, in Markdown.")}, ["result"]),
            _RUNTIME_RULES,
        ),
        ToolSpec(
            "ask_followup_question",
            "Ask the user a question when you cannot continue without their answer. Ends your turn.",
            _object(
                {
                    "question": _string("The question."),
                    "suggestions": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "Up to four short answers the user can pick.",
                    },
                },
                ["question"],
            ),
            _RUNTIME_RULES,
        ),
        ToolSpec(
            "switch_mode",
            "Hand the task to another agent that fits it better (coder, architect, debug, ask).",
            _object(
                {
                    "mode": _string("The agent to switch to."),
                    "reason": _string("Why that agent fits better; shown to the user."),
                },
                ["mode", "reason"],
            ),
            _RUNTIME_RULES,
        ),
        ToolSpec(
            "create_plan",
            "Propose a plan for a task that needs several steps. The user approves it before it runs.",
            _object(
                {
                    "goal": _string("What the whole plan achieves."),
                    "subtasks": {"type": "array", "items": _SUBTASK, "description": "Ordered steps."},
                },
                ["goal", "subtasks"],
            ),
            _RUNTIME_RULES,
        ),
    )
}
