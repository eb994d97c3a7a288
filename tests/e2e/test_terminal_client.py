"""codelab-chat, the terminal client, as a real process against the three real services (mock model)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.e2e.system import System


def chat(system: System, workspace: Path, message: str, *flags: str) -> tuple[int, str, list[dict[str, Any]]]:
    """Run ``codelab-chat -m`` once; returns the exit code, the printed reply and every frame it received."""
    url = f"ws://127.0.0.1:{system.gateway.port}"
    base = [sys.executable, "-m", "codelab_chat", "--url", url, "--workspace", str(workspace), "--idle-timeout", "30"]
    text = subprocess.run([*base, "-m", message, *flags], capture_output=True, text=True, timeout=60)
    frames = subprocess.run([*base, "-m", message, "--json", *flags], capture_output=True, text=True, timeout=60)
    parsed = [json.loads(line) for line in frames.stdout.splitlines() if line.startswith("{")]
    assert text.returncode == frames.returncode, text.stderr + frames.stderr
    return text.returncode, text.stdout.strip(), parsed


def test_a_plain_message_prints_the_streamed_reply(system: System, tmp_path: Path) -> None:
    code, reply, frames = chat(system, tmp_path, "hello from the terminal")
    assert code == 0
    assert reply == "hello from the terminal"
    deltas = [f["token"] for f in frames if f["type"] == "assistant_message" and f.get("is_final") is False]
    assert "".join(deltas) == "hello from the terminal"
    assert frames[-1]["type"] == "done"
    assert frames[-1]["stop_reason"] == "completed"


def test_a_read_tool_call_runs_in_the_workspace_and_the_model_answers_after_it(system: System, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("line one\nline two\n")
    message = 'read it [[tool:read_file {"path": "notes.txt"}]] [[2:text:I read the notes]]'
    code, reply, frames = chat(system, tmp_path, message, "--agent", "coder")
    assert code == 0
    calls = [f for f in frames if f["type"] == "tool_call"]
    assert [(c["tool_name"], c["arguments"], c["requires_approval"]) for c in calls] == [
        ("read_file", {"path": "notes.txt"}, False)
    ]
    assert reply.endswith("I read the notes")


def test_an_approved_write_changes_the_workspace(system: System, tmp_path: Path) -> None:
    message = 'write [[tool:write_file {"path": "out.md", "content": "# Hi ✓"}]] [[2:text:written]]'
    code, reply, frames = chat(system, tmp_path, message, "--agent", "coder", "--auto-approve")
    assert code == 0
    assert (tmp_path / "out.md").read_text() == "# Hi ✓"
    gated = [f for f in frames if f["type"] == "tool_call" and f["requires_approval"]]
    assert [g["tool_name"] for g in gated] == ["write_file"]
    assert reply.endswith("written")


def test_a_rejected_write_leaves_the_workspace_untouched(system: System, tmp_path: Path) -> None:
    message = 'write [[tool:write_file {"path": "no.md", "content": "x"}]] [[2:text:understood]]'
    code, _, frames = chat(system, tmp_path, message, "--agent", "coder", "--auto-reject")
    assert code == 0
    assert not (tmp_path / "no.md").exists()
    assert frames[-1]["type"] == "done"


def test_the_sessions_command_lists_the_sessions_just_used(system: System, tmp_path: Path) -> None:
    chat(system, tmp_path, "remember this session")
    url = f"ws://127.0.0.1:{system.gateway.port}"
    listed = subprocess.run(
        [sys.executable, "-m", "codelab_chat", "sessions", "--url", url, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    titles = [json.loads(line).get("title") for line in listed.stdout.splitlines() if line.startswith("{")]
    assert "remember this session" in titles
