"""Rendering: plain streaming that never repeats text, the live Markdown area, and every frame type."""

from __future__ import annotations

import io
from typing import Any

import orjson
from rich.console import Console

from codelab_chat.transcript import ToolRun
from codelab_chat.views import JsonView, RichView, render_history
from harness import CapturedConsole


def delta(token: str) -> dict[str, object]:
    return {"type": "assistant_message", "token": token, "is_final": False}


def final(content: str) -> dict[str, object]:
    return {"type": "assistant_message", "content": content, "is_final": True}


def test_plain_output_adds_only_the_part_the_deltas_missed(out: CapturedConsole, info: CapturedConsole) -> None:
    view = RichView(out.console, info.console)
    for frame in (delta("Hel"), delta("lo "), final("Hello world")):
        view.show(frame)

    assert out.text == "Hello world\n"


def test_a_final_message_that_differs_from_the_deltas_is_printed_whole(
    out: CapturedConsole, info: CapturedConsole
) -> None:
    view = RichView(out.console, info.console)
    for frame in (delta("draft"), final("Rewritten")):
        view.show(frame)

    assert out.text == "draft\nRewritten\n"


def test_a_message_reset_drops_the_abandoned_attempt_and_the_final_text_is_not_repeated(
    out: CapturedConsole, info: CapturedConsole
) -> None:
    view = RichView(out.console, info.console)
    for frame in (delta("Hel"), {"type": "message_reset", "reason": "taken_over"}, delta("Hello"), final("Hello")):
        view.show(frame)

    assert out.text == "Hel\nHello\n"  # plain output cannot take text back: the new attempt starts on a new line
    assert info.text == ""


def test_a_terminal_gets_the_final_message_rendered_as_markdown(info: CapturedConsole) -> None:
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=80, color_system=None)
    view = RichView(terminal, info.console)
    for frame in (delta("# Title\n"), delta("some **bold**"), final("# Title\nsome **bold** text")):
        view.show(frame)
    view.close()

    rendered = screen.getvalue()
    assert "Title" in rendered
    assert "some bold text" in rendered
    assert "**" not in rendered.split("some bold text")[-1]


def test_every_frame_type_is_shown(out: CapturedConsole, info: CapturedConsole) -> None:
    view = RichView(out.console, info.console)
    frames: list[dict[str, Any]] = [
        {"type": "tool_call", "tool_name": "write_file", "arguments": {"path": "a"}, "requires_approval": True},
        {"type": "agent_switched", "from_agent": "orchestrator", "to_agent": "coder", "reason": "code task"},
        {"type": "plan_approval_required", "plan_summary": {"goal": "G", "subtasks": [{"title": "T1"}, "T2"]}},
        {"type": "plan_progress", "content": "T1 started", "metadata": {"status": "in_progress"}},
        {"type": "status", "content": "queued behind a running turn"},
        {"type": "error", "error": "boom"},
        {"type": "done", "stop_reason": "completed", "usage": {"prompt_tokens": 3, "completion_tokens": 4}},
    ]
    for frame in frames:
        view.show(frame)
    view.tool_ran(ToolRun("c1", "write_file", {}, "approve", result={"success": True, "bytes_written": 5}))
    view.tool_ran(ToolRun("c2", "read_file", {}, "auto", error="File not found: x"))

    for expected in (
        "write_file",
        "needs approval",
        "orchestrator → coder — code task",
        "T1",
        "T2",
        "[in_progress] T1 started",
        "queued behind",
        "error: boom",
        "completed · tokens 3 in / 4 out",
        "bytes written: 5",
        "File not found: x",
    ):
        assert expected in info.text
    assert out.text == ""


def test_json_view_writes_frames_verbatim(out: CapturedConsole, info: CapturedConsole) -> None:
    view = JsonView(out.console, info.console)
    frame = {"type": "assistant_message", "token": "[bold]x[/]", "is_final": False, "seq": 3}
    view.show(frame)

    assert orjson.loads(out.text) == frame


def test_terminal_control_sequences_from_the_model_are_not_printed(out: CapturedConsole, info: CapturedConsole) -> None:
    view = RichView(out.console, info.console)
    for frame in (delta("safe \x1b]0;pwned\x07"), final("safe \x1b]0;pwned\x07text\x9b2J")):
        view.show(frame)
    view.show({"type": "error", "content": "bad \x1b[31mred"})

    assert "\x1b" not in out.text + info.text
    assert "\x07" not in out.text
    assert out.text == "safe ]0;pwnedtext2J\n"


def test_a_continued_sessions_tail_is_shown(out: CapturedConsole) -> None:
    messages = [{"role": "user", "content": f"q{n}"} for n in range(8)]
    messages += [{"role": "tool", "content": "raw tool output"}, {"role": "assistant", "content": "**answer**"}]

    render_history(out.console, messages, last=3)

    assert "… 6 earlier messages" in out.text
    assert "you> q6" in out.text
    assert "you> q5" not in out.text
    assert "raw tool output" not in out.text
    assert "answer" in out.text


def test_a_refused_call_is_shown_with_its_reason_and_rule(out: CapturedConsole, info: CapturedConsole) -> None:
    view = RichView(out.console, info.console)
    view.show(
        {
            "type": "tool_refused",
            "call_id": "c1",
            "tool_name": "execute_command",
            "arguments": {"command": "rm -rf /"},
            "content": "deleting outside the workspace is not allowed",
            "metadata": {"rule": "deny:rm-outside"},
            "seq": 4,
        }
    )

    assert (
        info.text == "⊘ refused execute_command: deleting outside the workspace is not allowed (rule deny:rm-outside)\n"
    )


def test_a_tool_run_shows_a_short_preview_of_its_output(out: CapturedConsole, info: CapturedConsole) -> None:
    view = RichView(out.console, info.console)
    text = "\n".join(f"line {n}" for n in range(1, 11)) + "\n" + "x" * 300
    view.tool_ran(ToolRun("c1", "read_file", {"path": "a.txt"}, "auto", result={"content": text, "lines_read": 11}))
    view.tool_ran(
        ToolRun(
            "c2",
            "search_in_code",
            {"query": "def"},
            "auto",
            result={"matches": [{"file": "a.py", "line": 3, "line_content": "  def main():"}], "total_matches": 1},
        )
    )
    view.tool_ran(ToolRun("c3", "execute_command", {"command": "true"}, "auto", result={"exit_code": 0, "stdout": ""}))

    assert info.text.splitlines() == [
        "  ✓ read_file lines read: 11",
        "    │ line 1",
        "    │ line 2",
        "    │ line 3",
        "    │ line 4",
        "    │ … 7 more",
        "  ✓ search_in_code total matches: 1",
        "    │ a.py:3: def main():",
        "  ✓ execute_command exit code: 0",
    ]
