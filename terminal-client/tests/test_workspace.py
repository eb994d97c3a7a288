"""Path confinement: the corpus of ways out of the workspace, and the ordinary paths that must keep working."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codelab_chat.workspace import PathViolation, Workspace

ESCAPES = [
    "..",
    "../secret.txt",
    "a/../../secret.txt",
    "a/../b",  # the IDE refuses any '..', even one that stays inside
    "./..",
    "..\\secret.txt",
    "a\\..\\..\\secret.txt",
    "/etc/passwd",
    "//etc/passwd",
    "\\etc\\passwd",
    "C:\\Windows\\win.ini",
    "c:/windows",
    "~",
    "~/.ssh/id_rsa",
    "~root/.bashrc",
    "%2e%2e/secret.txt",
    "%2E%2E%2Fsecret.txt",
    "a/%2e%2e/%2e%2e/secret.txt",
    "%2fetc%2fpasswd",
    "..%2fsecret.txt",
    "\uff0e\uff0e/secret.txt",  # full-width dots fold to '..' under NFKC
    "\u2024\u2024/secret.txt",  # one-dot leaders fold to '.' each
    "file\x00.txt",
    "",
    "   ",
]


@pytest.mark.parametrize("path", ESCAPES)
def test_paths_that_leave_or_trick_the_workspace_are_refused(workspace: Path, path: str) -> None:
    with pytest.raises(PathViolation):
        Workspace(workspace).resolve(path)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (".", "."),
        ("src/main.py", "src/main.py"),
        ("./src/main.py", "src/main.py"),
        ("src//main.py", "src/main.py"),
        ("src\\main.py", "src/main.py"),
        ("dots..in..name.txt", "dots..in..name.txt"),
        ("...", "..."),
        ("файл.txt", "файл.txt"),
        ("with space/x", "with space/x"),
    ],
)
def test_ordinary_relative_paths_resolve_inside(workspace: Path, path: str, expected: str) -> None:
    space = Workspace(workspace)
    location = space.resolve(path)
    assert space.relative(location) == expected
    assert space.contains(location)


def test_a_symlink_pointing_outside_is_refused(workspace: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret", encoding="utf-8")
    os.symlink(outside, workspace / "link")
    os.symlink(outside / "secret.txt", workspace / "secret-link.txt")
    space = Workspace(workspace)

    for path in ("link", "link/secret.txt", "link/new.txt", "secret-link.txt"):
        with pytest.raises(PathViolation, match="escapes the workspace"):
            space.resolve(path)


def test_a_symlink_chain_that_ends_outside_is_refused(workspace: Path, tmp_path: Path) -> None:
    os.symlink(tmp_path, workspace / "hop2")
    os.symlink("hop2", workspace / "hop1")

    with pytest.raises(PathViolation):
        Workspace(workspace).resolve("hop1/anything")


def test_a_symlink_that_stays_inside_is_followed(workspace: Path) -> None:
    (workspace / "real").mkdir()
    os.symlink("real", workspace / "alias")
    space = Workspace(workspace)

    assert space.resolve("alias/file.txt") == workspace.resolve() / "real" / "file.txt"


def test_a_workspace_reached_through_a_symlink_still_works(tmp_path: Path, workspace: Path) -> None:
    os.symlink(workspace, tmp_path / "via-link")
    space = Workspace(tmp_path / "via-link")

    assert space.relative(space.resolve("a.txt")) == "a.txt"


def test_a_missing_workspace_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Workspace(tmp_path / "missing")
