"""The first hour, as written: the README's "try tools and approvals with the mock" commands and doc/rest.md's
`openai` SDK example run verbatim (only the ports and the scratch folder changed) against the real services."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.e2e.system import System

ROOT = Path(__file__).resolve().parents[2]
COMMAND_WAIT = 120


def section(markdown: Path, heading: str) -> str:
    """The text under ``heading`` up to the next heading of the same or a higher level (outside code blocks)."""
    lines = markdown.read_text(encoding="utf-8").splitlines(keepends=True)
    start = lines.index(heading + "\n")
    level = len(heading.split(" ", 1)[0])
    fenced = False
    for number in range(start + 1, len(lines)):
        fenced ^= lines[number].startswith("```")
        marks = len(lines[number]) - len(lines[number].lstrip("#"))
        if not fenced and 0 < marks <= level and lines[number][marks : marks + 1] == " ":
            return "".join(lines[start:number])
    return "".join(lines[start:])


def code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


def test_the_readme_tool_and_approval_commands_work_as_written(system: System, tmp_path: Path) -> None:
    [block] = code_blocks(section(ROOT / "README.md", "## Try tools and approvals with the mock"), "bash")
    scratch = tmp_path / "try"
    environment = {**os.environ, "CODELAB_URL": f"ws://127.0.0.1:{system.gateway.port}"}
    outcomes = []
    for line in block.splitlines():
        one_shot = line.startswith(".venv/bin/codelab-chat") and " -m " in line
        if not (one_shot or line.startswith("mkdir")):
            continue  # comments, the interactive start and what is typed into it
        command = line.replace("/tmp/try", str(scratch)).replace(
            ".venv/bin/codelab-chat", f"{sys.prefix}/bin/codelab-chat"
        )
        done = subprocess.run(
            ["bash", "-c", command], env=environment, capture_output=True, text=True, timeout=COMMAND_WAIT, cwd=ROOT
        )
        outcomes.append((line, done.returncode, done.stdout, done.stderr))

    assert [code for _, code, _, _ in outcomes] == [0, 0, 0, 0, 0, 1], outcomes
    _, _, read, read_notes = outcomes[1]
    assert read.strip() == "The file says hello."
    assert "│ hello from a file" in read_notes  # the preview of what the tool read
    assert (scratch / "notes.txt").read_text() == "hello again\n"  # the approved write, and no stray copy
    assert sorted(p.name for p in scratch.iterdir()) == ["notes.txt"]
    _, _, refused, refusal = outcomes[3]
    assert refused.strip() == "Understood."
    assert "refused write_file" in refusal
    assert "error:" in outcomes[5][3]


def test_the_openai_sdk_example_of_rest_md_runs_as_written(system: System, tmp_path: Path) -> None:
    [example] = code_blocks(section(ROOT / "doc" / "rest.md", "### The official `openai` SDK"), "python")
    (tmp_path / ".data").mkdir()
    (tmp_path / ".data" / "internal-api-key").write_text(system.key + "\n")
    script = tmp_path / "example.py"
    script.write_text(example.replace("127.0.0.1:8002", f"127.0.0.1:{system.proxy.port}"))

    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=COMMAND_WAIT
    )

    assert done.returncode == 0, done.stderr
    streamed, whole, models = done.stdout.splitlines()
    assert streamed == "hello world"
    assert whole.startswith("hello world CompletionUsage(")
    assert "'mock'" in models
