"""Permissions: the tool list per agent, the architect's Markdown-only writes, and the path normalisation corpus."""

import pytest

from agent_runtime.agents.catalogue import build_catalogue
from agent_runtime.guardrails.permissions import Allowed, Refused, UnsafePath, check_permission, normalise_path

CATALOGUE = build_catalogue(True)
ARCHITECT = CATALOGUE.agents["architect"]
CODER = CATALOGUE.agents["coder"]
ASK = CATALOGUE.agents["ask"]

ESCAPING_PATHS = [
    # traversal
    "../secret.md",
    "docs/../../secret.md",
    "docs/..",
    "..",
    "./../x.md",
    "docs/.../x.md",
    "docs/.. /x.md",
    "docs/../",
    # absolute
    "/etc/passwd",
    "/docs/x.md",
    "//server/share/x.md",
    "C:/Windows/x.md",
    "c:x.md",
    "C:\\Windows\\x.md",
    # home
    "~/notes.md",
    "~root/x.md",
    "docs/~/x.md",
    # percent-encoding
    "%2e%2e/x.md",
    "%2E%2E/x.md",
    "docs%2fx.md",
    "docs%2F..%2Fx.md",
    "%252e%252e/x.md",
    "..%2fx.md",
    "%00.md",
    # backslashes
    "..\\x.md",
    "docs\\x.md",
    "docs\\..\\..\\x.md",
    # NUL and control characters
    "notes.md\x00.py",
    "docs/\x00/x.md",
    "docs/\nx.md",
    "docs/\tx.md",
    # unicode tricks: fullwidth and look-alikes
    "．．/x.md",
    "．．／x.md",
    "docs／．．／．．／x.md",
    "／etc／x.md",
    "＼x.md",
    "\u2024\u2024/x.md",
    "\u2025/x.md",
    "docs\u2215..\u2215x.md",
    "docs\u2044x.md",
    "\u200b../x.md",
    "..\u200b/x.md",
    "docs/\u202ex.md",
    "ｃ:/x.md",
    "\ufe52\ufe52/x.md",
    # windows trimming and streams
    "docs/x.md.",
    "docs/x.md ",
    " docs/x.md",
    "docs/x.md:stream",
    "x.md::$DATA",
]

SAFE_PATHS = {
    "README.md": "README.md",
    "docs/architecture.md": "docs/architecture.md",
    "./docs/./adr/0001.md": "docs/adr/0001.md",
    "docs//x.md": "docs/x.md",
    "docs/x.md/": "docs/x.md",
    ".github/notes.md": ".github/notes.md",
    "docs/file..name.md": "docs/file..name.md",
    "docs/тест.md": "docs/тест.md",
    "docs/ｄｏｃ.md": "docs/doc.md",
    ".": ".",
    "": ".",
    "lib/backup~.dart": "lib/backup~.dart",
}


@pytest.mark.parametrize("path", ESCAPING_PATHS)
def test_every_escaping_path_is_rejected_by_the_normalisation(path: str) -> None:
    with pytest.raises(UnsafePath):
        normalise_path(path)


@pytest.mark.parametrize("path", ESCAPING_PATHS)
def test_the_architect_cannot_write_any_escaping_path(path: str) -> None:
    decision = check_permission(ARCHITECT, "write_file", {"path": path, "content": "x"})
    assert isinstance(decision, Refused)


@pytest.mark.parametrize("path", ESCAPING_PATHS)
def test_no_agent_can_read_an_escaping_path(path: str) -> None:
    assert isinstance(check_permission(CODER, "read_file", {"path": path}), Refused)


@pytest.mark.parametrize(("raw", "expected"), SAFE_PATHS.items())
def test_project_relative_paths_normalise_to_their_canonical_form(raw: str, expected: str) -> None:
    assert normalise_path(raw) == expected


def test_a_non_string_path_is_rejected() -> None:
    with pytest.raises(UnsafePath, match="string"):
        normalise_path(42)  # type: ignore[arg-type]


@pytest.mark.parametrize("path", ["docs/design.md", "README.MD", "./notes.md", "docs/ａ.ｍｄ"])
def test_the_architect_may_write_markdown_files(path: str) -> None:
    assert check_permission(ARCHITECT, "write_file", {"path": path, "content": "# x"}) == Allowed()


@pytest.mark.parametrize(
    "path", ["lib/main.dart", "docs/x.md.dart", "docs/x.mdx", "docs/.md", ".md", "docs/x.md.py", "notes.markdown"]
)
def test_the_architect_may_not_write_anything_but_markdown(path: str) -> None:
    decision = check_permission(ARCHITECT, "write_file", {"path": path, "content": "x"})
    assert isinstance(decision, Refused)
    assert ".md" in decision.reason


def test_the_architect_may_not_create_directories_or_run_commands() -> None:
    assert isinstance(check_permission(ARCHITECT, "create_directory", {"path": "docs"}), Refused)
    assert isinstance(check_permission(ARCHITECT, "execute_command", {"command": "ls"}), Refused)


def test_a_refusal_tells_the_model_which_tools_it_has() -> None:
    decision = check_permission(ASK, "write_file", {"path": "a.md", "content": "x"})
    assert isinstance(decision, Refused)
    assert "Ask agent may not use 'write_file'" in decision.reason
    assert "read_file" in decision.reason


def test_the_coder_may_write_code_files() -> None:
    assert check_permission(CODER, "write_file", {"path": "lib/main.dart", "content": "void main() {}"}) == Allowed()


def test_the_run_command_alias_is_checked_as_execute_command() -> None:
    assert check_permission(CODER, "run_command", {"command": "ls"}) == Allowed()
    assert isinstance(check_permission(ASK, "run_command", {"command": "ls"}), Refused)


def test_the_working_directory_of_a_command_must_stay_in_the_project() -> None:
    decision = check_permission(CODER, "execute_command", {"command": "ls", "cwd": "../.."})
    assert isinstance(decision, Refused)
    assert "cwd" in decision.reason


def test_a_missing_optional_path_argument_is_not_checked() -> None:
    assert check_permission(CODER, "search_in_code", {"query": "main"}) == Allowed()
