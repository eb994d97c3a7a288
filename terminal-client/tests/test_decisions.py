"""Answers to approvals and plans: from the flags, and from a person (fed by a scripted line input)."""

from __future__ import annotations

import io
import re
from pathlib import Path

from rich.console import Console

from codelab_chat.decisions import (
    PLAN_REJECTED_BY_FLAGS,
    REJECTED_BY_FLAGS,
    FlagDecider,
    PlanDecision,
    PromptDecider,
    ToolDecision,
)
from codelab_chat.diffs import write_diff
from codelab_chat.workspace import Workspace
from harness import CapturedConsole

CALL = {"type": "tool_call", "call_id": "c1", "tool_name": "write_file", "arguments": {"path": "a", "content": "x"}}
PLAN = {"type": "plan_approval_required", "approval_request_id": "ar", "plan_id": "p"}


class FakeLineInput:
    def __init__(self, *answers: str) -> None:
        self.console = CapturedConsole().console
        self.answers = list(answers)
        self.prompts: list[str] = []

    async def ask(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if not self.answers:
            raise EOFError
        return self.answers.pop(0)


async def test_flags_approve_or_refuse_tool_calls() -> None:
    assert await FlagDecider(auto_approve=True).decide_tool(CALL) == ToolDecision("approve")
    assert await FlagDecider().decide_tool(CALL) == ToolDecision("reject", feedback=REJECTED_BY_FLAGS)
    assert await FlagDecider(auto_reject=True).decide_tool(CALL) == ToolDecision("reject", feedback=REJECTED_BY_FLAGS)


async def test_flags_approve_plans_only_when_asked() -> None:
    assert await FlagDecider(approve_plans=True).decide_plan(PLAN) == PlanDecision("approve")
    assert await FlagDecider().decide_plan(PLAN) == PlanDecision("reject", feedback=PLAN_REJECTED_BY_FLAGS)


async def test_a_person_approves() -> None:
    assert await PromptDecider(FakeLineInput("a")).decide_tool(CALL) == ToolDecision("approve")


async def test_a_person_rejects_with_feedback() -> None:
    decision = await PromptDecider(FakeLineInput("r", "use b.txt instead")).decide_tool(CALL)

    assert decision == ToolDecision("reject", feedback="use b.txt instead")


async def test_a_person_edits_the_arguments_and_bad_json_asks_again() -> None:
    terminal = FakeLineInput("e", "{not json", "e", "[1]", "e", '{"path": "b", "content": "y"}')

    decision = await PromptDecider(terminal).decide_tool(CALL)

    assert decision == ToolDecision("edit", arguments={"path": "b", "content": "y"})
    assert len(terminal.prompts) == 6


async def test_an_unknown_answer_asks_again() -> None:
    terminal = FakeLineInput("maybe", "yes")

    assert await PromptDecider(terminal).decide_tool(CALL) == ToolDecision("approve")
    assert len(terminal.prompts) == 2


async def test_a_person_modifies_a_plan_with_feedback() -> None:
    decision = await PromptDecider(FakeLineInput("m", "skip the tests step")).decide_plan(PLAN)

    assert decision == PlanDecision("modify", feedback="skip the tests step")


async def test_a_write_file_approval_shows_a_coloured_diff_against_the_current_file(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("# Notes\nold line\nkept\n", encoding="utf-8")
    terminal = FakeLineInput("a")
    screen = io.StringIO()
    terminal.console = Console(file=screen, force_terminal=True, width=100, color_system="standard")
    call = {
        "type": "tool_call",
        "call_id": "c1",
        "tool_name": "write_file",
        "arguments": {"path": "notes.md", "content": "# Notes\nnew line\nkept\n", "create_dirs": False},
    }

    assert await PromptDecider(terminal, Workspace(str(tmp_path))).decide_tool(call) == ToolDecision("approve")

    shown = screen.getvalue()
    plain = re.sub(r"\x1b\[[0-9;]*m", "", shown)
    assert "--- a/notes.md\n+++ b/notes.md\n@@ -1,3 +1,3 @@\n # Notes\n-old line\n+new line\n kept\n" in plain
    assert "\x1b[31m-old line" in shown  # removals red
    assert "\x1b[32m+new line" in shown  # additions green
    assert '"create_dirs": false' in plain  # the other arguments still shown
    assert "# Notes\\nnew line" not in plain  # not the content as a JSON string


def test_a_new_file_is_diffed_against_nothing_and_a_refused_path_is_not_read(tmp_path: Path) -> None:
    space = Workspace(str(tmp_path))
    assert write_diff(space, {"path": "new.txt", "content": "a\nb"}).splitlines() == [
        "--- /dev/null",
        "+++ b/new.txt",
        "@@ -0,0 +1,2 @@",
        "+a",
        "+b",
        "\\ No newline at end of file",
    ]
    assert write_diff(space, {"path": "../outside", "content": "x"}).startswith("(no diff: ")
    assert write_diff(space, {"path": "new.txt", "content": ""}) == ""
