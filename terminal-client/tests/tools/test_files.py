"""read_file, write_file, list_files, create_directory: the IDE's result shapes and their edge cases."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codelab_chat.tools.files import create_directory, list_files, read_file, write_file
from codelab_chat.tools.limits import ToolLimits
from codelab_chat.workspace import PathViolation, ToolError, Workspace

LIMITS = ToolLimits()


@pytest.fixture
def space(workspace: Path) -> Workspace:
    return Workspace(workspace)


def test_read_file_returns_content_and_line_count(space: Workspace) -> None:
    (space.root / "a.txt").write_text("one\ntwo\nthree\n", encoding="utf-8")

    assert read_file(space, LIMITS, {"path": "a.txt"}) == {
        "success": True,
        "content": "one\ntwo\nthree\n",
        "lines_read": 3,
    }


def test_read_file_line_range_is_one_based_and_inclusive(space: Workspace) -> None:
    (space.root / "a.txt").write_text("one\ntwo\nthree\nfour\n", encoding="utf-8")

    result = read_file(space, LIMITS, {"path": "a.txt", "start_line": 2, "end_line": 3})

    assert result == {"success": True, "content": "two\nthree\n", "lines_read": 2}


def test_read_file_accepts_numeric_strings_for_line_numbers(space: Workspace) -> None:
    (space.root / "a.txt").write_text("one\ntwo\n", encoding="utf-8")

    assert read_file(space, LIMITS, {"path": "a.txt", "start_line": "2"})["content"] == "two\n"


def test_read_file_of_a_missing_file_is_an_error(space: Workspace) -> None:
    with pytest.raises(ToolError, match=r"File not found: nope\.txt"):
        read_file(space, LIMITS, {"path": "nope.txt"})


def test_read_file_refuses_binary_and_oversized_files(space: Workspace) -> None:
    (space.root / "bin").write_bytes(b"\xff\xfe\x00garbage")
    (space.root / "big.txt").write_text("x" * 2000, encoding="utf-8")

    with pytest.raises(ToolError, match="not UTF-8"):
        read_file(space, LIMITS, {"path": "bin"})
    with pytest.raises(ToolError, match="too large"):
        read_file(space, ToolLimits(max_read_bytes=1000), {"path": "big.txt"})


def test_read_file_keeps_non_ascii_text(space: Workspace) -> None:
    (space.root / "ru.txt").write_text("Привет, мир 👋", encoding="utf-8")

    assert read_file(space, LIMITS, {"path": "ru.txt"})["content"] == "Привет, мир 👋"


def test_read_file_without_a_path_names_the_missing_argument(space: Workspace) -> None:
    with pytest.raises(ToolError, match="Missing required argument: path"):
        read_file(space, LIMITS, {})


def test_write_file_counts_utf8_bytes_and_makes_no_backup_for_a_new_file(space: Workspace) -> None:
    result = write_file(space, LIMITS, {"path": "new.txt", "content": "héllo"})

    assert result == {"success": True, "bytes_written": 6}
    assert (space.root / "new.txt").read_text(encoding="utf-8") == "héllo"


def test_write_file_leaves_no_stray_backup_unless_the_client_keeps_backups(space: Workspace) -> None:
    (space.root / "a.txt").write_text("old", encoding="utf-8")

    result = write_file(space, LIMITS, {"path": "a.txt", "content": "new", "backup": True})

    assert "backup_path" not in result
    assert sorted(p.name for p in space.root.iterdir()) == ["a.txt"]
    assert (space.root / "a.txt").read_text(encoding="utf-8") == "new"


def test_a_new_file_gets_the_umask_mode_and_an_existing_one_keeps_its_own(space: Workspace) -> None:
    write_file(space, LIMITS, {"path": "new.txt", "content": "x"})
    (space.root / "script.sh").write_text("old", encoding="utf-8")
    (space.root / "script.sh").chmod(0o755)
    write_file(space, LIMITS, {"path": "script.sh", "content": "new"})

    umask = os.umask(0o022)
    os.umask(umask)
    assert (space.root / "new.txt").stat().st_mode & 0o777 == 0o666 & ~umask  # 0644 under the usual 022
    assert (space.root / "script.sh").stat().st_mode & 0o777 == 0o755


def test_write_file_backs_up_an_existing_file_with_backups_kept(space: Workspace) -> None:
    (space.root / "a.txt").write_text("old", encoding="utf-8")

    result = write_file(space, ToolLimits(keep_backups=True), {"path": "a.txt", "content": "new"})

    assert result["backup_path"] == "a.txt.bak"
    assert (space.root / "a.txt.bak").read_text(encoding="utf-8") == "old"
    assert (space.root / "a.txt").read_text(encoding="utf-8") == "new"


def test_write_file_without_backup_leaves_no_copy(space: Workspace) -> None:
    (space.root / "a.txt").write_text("old", encoding="utf-8")

    result = write_file(space, LIMITS, {"path": "a.txt", "content": "new", "backup": False})

    assert "backup_path" not in result
    assert not (space.root / "a.txt.bak").exists()


def test_write_file_needs_create_dirs_for_a_missing_folder(space: Workspace) -> None:
    with pytest.raises(ToolError, match="Directory does not exist: deep/er"):
        write_file(space, LIMITS, {"path": "deep/er/a.txt", "content": "x"})

    write_file(space, LIMITS, {"path": "deep/er/a.txt", "content": "x", "create_dirs": True})
    assert (space.root / "deep/er/a.txt").read_text(encoding="utf-8") == "x"


def test_write_file_leaves_no_temporary_files(space: Workspace) -> None:
    write_file(space, LIMITS, {"path": "a.txt", "content": "x"})

    assert sorted(p.name for p in space.root.iterdir()) == ["a.txt"]


def test_write_file_through_an_escaping_symlink_is_refused(space: Workspace, tmp_path: Path) -> None:
    target = tmp_path / "outside.txt"
    target.write_text("keep", encoding="utf-8")
    os.symlink(target, space.root / "link.txt")

    with pytest.raises(PathViolation):
        write_file(space, LIMITS, {"path": "link.txt", "content": "overwritten"})
    assert target.read_text(encoding="utf-8") == "keep"


def test_list_files_shows_visible_entries_with_their_shape(space: Workspace) -> None:
    (space.root / "src").mkdir()
    (space.root / "src/main.py").write_text("print()", encoding="utf-8")
    (space.root / "README.md").write_text("# hi", encoding="utf-8")
    (space.root / ".env").write_text("SECRET=1", encoding="utf-8")

    result = list_files(space, LIMITS, {"path": "."})

    assert result["success"] is True
    assert result["path"] == "."
    assert result["total_count"] == 2
    readme, src = result["items"]
    assert {k: readme[k] for k in ("name", "path", "type", "size")} == {
        "name": "README.md",
        "path": "README.md",
        "type": "file",
        "size": 4,
    }
    assert "modified" in readme
    assert (src["name"], src["type"], "size" in src) == ("src", "directory", False)


def test_list_files_recursive_hidden_and_pattern(space: Workspace) -> None:
    (space.root / "src/pkg").mkdir(parents=True)
    (space.root / "src/pkg/a.py").write_text("", encoding="utf-8")
    (space.root / "src/b.txt").write_text("", encoding="utf-8")
    (space.root / ".hidden.py").write_text("", encoding="utf-8")

    recursive = list_files(space, LIMITS, {"path": "src", "recursive": True})
    python = list_files(space, LIMITS, {"path": ".", "recursive": True, "pattern": "*.py", "include_hidden": True})

    assert [item["path"] for item in recursive["items"]] == ["src/b.txt", "src/pkg", "src/pkg/a.py"]
    assert [item["path"] for item in python["items"]] == [".hidden.py", "src/pkg/a.py"]


def test_list_files_does_not_enter_or_describe_an_escaping_symlink(space: Workspace, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("s", encoding="utf-8")
    os.symlink(outside, space.root / "link")

    result = list_files(space, LIMITS, {"path": ".", "recursive": True})

    assert result["items"] == [{"name": "link", "path": "link", "type": "file"}]


def test_list_files_stops_at_the_item_limit(space: Workspace) -> None:
    for number in range(5):
        (space.root / f"f{number}").write_text("", encoding="utf-8")

    result = list_files(space, ToolLimits(max_list_items=3), {"path": "."})

    assert result["total_count"] == 3
    assert result["truncated"] is True


def test_create_directory_reports_created_and_already_exists(space: Workspace) -> None:
    first = create_directory(space, LIMITS, {"path": "a/b"})
    second = create_directory(space, LIMITS, {"path": "a/b"})

    assert first == {"success": True, "path": "a/b", "created": True, "already_exists": False}
    assert second == {"success": True, "path": "a/b", "created": False, "already_exists": True}


def test_create_directory_without_recursive_needs_the_parent(space: Workspace) -> None:
    with pytest.raises(ToolError, match="Parent directory does not exist"):
        create_directory(space, LIMITS, {"path": "x/y", "recursive": False})


def test_create_directory_outside_is_refused(space: Workspace) -> None:
    with pytest.raises(PathViolation):
        create_directory(space, LIMITS, {"path": "../evil"})
