"""Paths sent to an ACP client are absolute and never leave the session's working directory."""

from __future__ import annotations

import pytest

from gateway.acp.workspace import OutsideWorkspace, Workspace


def test_relative_paths_become_absolute_inside_the_working_directory() -> None:
    workspace = Workspace("/home/ada/project/")
    assert workspace.cwd == "/home/ada/project"
    assert workspace.absolute("lib/main.dart") == "/home/ada/project/lib/main.dart"
    assert workspace.absolute(".") == "/home/ada/project"
    assert workspace.absolute("a/../b.md") == "/home/ada/project/b.md"
    assert workspace.relative("/home/ada/project/lib/x.py") == "lib/x.py"
    assert workspace.parent("/home/ada/project/lib/x.py") == "/home/ada/project/lib"


@pytest.mark.parametrize("path", ["../secret", "/etc/passwd", "a/../../x", "..", "x\x00y"])
def test_a_path_that_leaves_the_working_directory_is_refused(path: str) -> None:
    with pytest.raises(OutsideWorkspace):
        Workspace("/home/ada/project").absolute(path)


def test_a_sibling_with_the_same_prefix_is_outside() -> None:
    workspace = Workspace("/home/ada/project")
    assert not workspace.contains("/home/ada/project-old/x")
    assert workspace.contains("/home/ada/project/x")


def test_a_windows_working_directory_gets_windows_paths() -> None:
    workspace = Workspace("C:\\Users\\ada\\project")
    assert workspace.absolute("lib/main.dart") == "C:\\Users\\ada\\project\\lib\\main.dart"
    assert workspace.contains("c:\\users\\ada\\project\\lib")
    assert workspace.relative("C:\\Users\\ada\\project\\lib\\main.dart") == "lib/main.dart"
    with pytest.raises(OutsideWorkspace):
        workspace.absolute("..\\other")
    assert Workspace.is_absolute("C:\\x")
    assert Workspace.is_absolute("/x")
    assert not Workspace.is_absolute("x")
