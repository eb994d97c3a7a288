"""Shared fixtures: a workspace folder and consoles that capture what the client prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import CapturedConsole


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    return root


@pytest.fixture
def out() -> CapturedConsole:
    return CapturedConsole()


@pytest.fixture
def info() -> CapturedConsole:
    return CapturedConsole()
