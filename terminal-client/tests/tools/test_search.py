"""search_in_code: literal and regex matches, case, file patterns, limits, and what it skips."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codelab_chat.tools.limits import ToolLimits
from codelab_chat.tools.search import search_in_code
from codelab_chat.workspace import PathViolation, ToolError, Workspace

LIMITS = ToolLimits()


@pytest.fixture
def space(workspace: Path) -> Workspace:
    (workspace / "src").mkdir()
    (workspace / "src/app.py").write_text("def main():\n    return Main(1) + main(2)\n", encoding="utf-8")
    (workspace / "src/notes.md").write_text("main ideas\n", encoding="utf-8")
    (workspace / ".git").mkdir()
    (workspace / ".git/config").write_text("main\n", encoding="utf-8")
    (workspace / "image.bin").write_bytes(b"main\x00\x01")
    return Workspace(workspace)


def test_a_literal_search_is_case_insensitive_by_default(space: Workspace) -> None:
    result = search_in_code(space, LIMITS, {"query": "main"})

    assert result["query"] == "main"
    assert result["total_matches"] == 4
    assert result["truncated"] is False
    assert result["matches"][0] == {
        "file": "src/app.py",
        "line": 1,
        "column": 5,
        "matched_text": "main",
        "line_content": "def main():",
    }
    assert {match["file"] for match in result["matches"]} == {"src/app.py", "src/notes.md"}


def test_case_sensitive_and_regex_searches(space: Workspace) -> None:
    exact = search_in_code(space, LIMITS, {"query": "Main", "case_sensitive": True})
    pattern = search_in_code(space, LIMITS, {"query": r"main\(\d\)", "regex": True, "case_sensitive": True})

    assert [(m["line"], m["column"]) for m in exact["matches"]] == [(2, 12)]
    assert [m["matched_text"] for m in pattern["matches"]] == ["main(2)"]


def test_literal_queries_are_not_regexes(space: Workspace) -> None:
    assert search_in_code(space, LIMITS, {"query": "main("})["total_matches"] == 3
    assert search_in_code(space, LIMITS, {"query": ".*"})["total_matches"] == 0


def test_file_pattern_and_path_narrow_the_search(space: Workspace) -> None:
    markdown = search_in_code(space, LIMITS, {"query": "main", "file_pattern": "*.md"})
    one_file = search_in_code(space, LIMITS, {"query": "main", "path": "src/app.py"})

    assert {m["file"] for m in markdown["matches"]} == {"src/notes.md"}
    assert one_file["total_matches"] == 3


def test_max_results_truncates_but_counts_every_match(space: Workspace) -> None:
    result = search_in_code(space, LIMITS, {"query": "main", "max_results": 2})

    assert len(result["matches"]) == 2
    assert result["total_matches"] == 4
    assert result["truncated"] is True


def test_a_bad_regex_or_an_oversized_query_is_an_error(space: Workspace) -> None:
    with pytest.raises(ToolError, match="Invalid regular expression"):
        search_in_code(space, LIMITS, {"query": "(", "regex": True})
    with pytest.raises(ToolError, match="1 to 1000"):
        search_in_code(space, LIMITS, {"query": "x" * 1001})


def test_search_does_not_follow_links_out_of_the_workspace(space: Workspace, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "leak.py").write_text("main secret\n", encoding="utf-8")
    os.symlink(outside, space.root / "linkdir")
    os.symlink(outside / "leak.py", space.root / "leak.py")

    result = search_in_code(space, LIMITS, {"query": "secret"})

    assert result["total_matches"] == 0
    with pytest.raises(PathViolation):
        search_in_code(space, LIMITS, {"query": "secret", "path": "linkdir"})
