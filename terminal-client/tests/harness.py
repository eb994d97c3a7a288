"""Helpers the tests share: captured consoles and options pointed at a fake gateway."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from codelab_chat.app import ChatOptions


class CapturedConsole:
    """A rich console writing into memory, as a pipe would (no terminal: tokens come out as plain text)."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.console = Console(file=self.buffer, force_terminal=False, width=200, color_system=None)

    @property
    def text(self) -> str:
        return self.buffer.getvalue()


def options_for(url: str, workspace: Path, **changes: object) -> ChatOptions:
    """Options against a fake gateway: fast reconnects, a short idle timeout so a hang fails the test quickly."""
    settings: dict[str, object] = {
        "url": url,
        "workspace": str(workspace),
        "reconnect_delay": 0.02,
        "idle_timeout": 10.0,
    }
    settings.update(changes)
    return ChatOptions(**settings)  # type: ignore[arg-type]
