"""The ACP dialect: each runtime chunk becomes the session/update an ACP editor renders."""

from __future__ import annotations

from gateway.acp.updates import RESTARTED, Translator
from gateway.acp.workspace import Workspace


def translator() -> Translator:
    return Translator(Workspace("/work/p"))


def test_deltas_stream_and_the_final_message_adds_only_what_no_delta_carried() -> None:
    view = translator()
    assert view.updates({"type": "assistant_message", "token": "Hel", "is_final": False}) == [
        {"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": "Hel"}}
    ]
    view.updates({"type": "assistant_message", "token": "lo", "is_final": False})
    assert view.updates({"type": "assistant_message", "content": "Hello", "is_final": True}) == []
    view.updates({"type": "assistant_message", "token": "Par", "is_final": False})
    assert view.updates({"type": "assistant_message", "content": "Partly more", "is_final": True}) == [
        {"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": "tly more"}}
    ]
    # a final with no delta before it (a replay, a runtime-made answer) is sent whole
    assert view.updates({"type": "assistant_message", "content": "Whole", "is_final": True}) == [
        {"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": "Whole"}}
    ]


def test_a_tool_call_is_announced_with_kind_title_and_absolute_locations() -> None:
    chunk = {
        "type": "tool_call",
        "call_id": "c1",
        "tool_name": "read_file",
        "arguments": {"path": "lib/main.dart", "start_line": 3, "end_line": 9},
        "requires_approval": False,
    }
    assert translator().updates(chunk) == [
        {
            "sessionUpdate": "tool_call",
            "toolCallId": "c1",
            "title": "Read lib/main.dart (lines 3-9)",
            "kind": "read",
            "status": "pending",
            "locations": [{"path": "/work/p/lib/main.dart", "line": 3}],
            "rawInput": {"path": "lib/main.dart", "start_line": 3, "end_line": 9},
        }
    ]
    command = {"type": "tool_call", "call_id": "c2", "tool_name": "execute_command", "arguments": {"command": "ls"}}
    [update] = translator().updates(command)
    assert (update["kind"], update["title"], update["locations"]) == ("execute", "Run ls", [])


def test_a_refused_call_is_a_failed_tool_call_with_the_reason() -> None:
    chunk = {
        "type": "tool_refused",
        "call_id": "c3",
        "tool_name": "write_file",
        "arguments": {"path": "x.py", "content": "1"},
        "content": "the architect may only write .md files",
        "metadata": {"rule": "write_extensions"},
    }
    [update] = translator().updates(chunk)
    assert update["sessionUpdate"] == "tool_call"
    assert update["status"] == "failed"
    assert update["kind"] == "edit"
    assert update["content"] == [
        {"type": "content", "content": {"type": "text", "text": "Refused: the architect may only write .md files"}}
    ]


def test_agents_are_modes_and_a_switch_is_a_mode_update() -> None:
    chunk = {"type": "agent_switched", "from_agent": "orchestrator", "to_agent": "architect", "reason": "plan"}
    assert translator().updates(chunk) == [{"sessionUpdate": "current_mode_update", "currentModeId": "architect"}]


def test_a_plan_and_its_progress_are_whole_plan_updates() -> None:
    view = translator()
    proposed = {
        "type": "plan_approval_required",
        "plan_id": "p1",
        "approval_request_id": "a1",
        "plan_summary": {
            "goal": "Login",
            "subtasks": [{"id": "t1", "title": "UI", "agent": "coder"}, {"id": "t2", "title": "Wire up"}],
        },
    }
    assert view.updates(proposed) == [
        {
            "sessionUpdate": "plan",
            "entries": [
                {"content": "UI (coder)", "priority": "medium", "status": "pending"},
                {"content": "Wire up", "priority": "medium", "status": "pending"},
            ],
        }
    ]
    progress = {"type": "plan_progress", "plan_id": "p1", "metadata": {"subtask_id": "t1", "status": "in_progress"}}
    [update] = view.updates(progress)
    assert [e["status"] for e in update["entries"]] == ["in_progress", "pending"]
    done = {"type": "plan_progress", "plan_id": "p1", "metadata": {"status": "completed"}}
    [update] = view.updates(done)
    assert [e["status"] for e in update["entries"]] == ["completed", "completed"]
    assert view.updates({"type": "plan_progress", "plan_id": "other", "metadata": {"status": "completed"}}) == []


def test_errors_are_shown_as_text_and_bookkeeping_is_not_shown() -> None:
    view = translator()
    [update] = view.updates({"type": "error", "content": "the model is unavailable", "metadata": {"code": "x"}})
    assert "the model is unavailable" in update["content"]["text"]
    for chunk in ({"type": "status", "content": "queued"}, {"type": "done", "stop_reason": "completed"}):
        assert view.updates(chunk) == []
    assert view.updates({"type": "session_info", "session_id": "s"}) == []


def displayed(view: Translator, *chunks: dict[str, object]) -> str:
    """The text an ACP client shows after these chunks (agent message chunks append)."""
    return "".join(u["content"]["text"] for chunk in chunks for u in view.updates(chunk))


def delta(token: str) -> dict[str, object]:
    return {"type": "assistant_message", "token": token, "is_final": False}


def final(content: str) -> dict[str, object]:
    return {"type": "assistant_message", "content": content, "is_final": True}


RESET = {"type": "message_reset", "reason": "taken_over"}


def test_a_taken_over_attempt_repeating_the_shown_text_is_sent_only_past_it() -> None:
    view = translator()
    before = displayed(view, delta("Hel"), delta("lo wo"))
    after = displayed(view, RESET, delta("Hell"), delta("o"), delta(" world"), delta("!"), final("Hello world!"))
    assert before + after == "Hello world!"  # not "Hello wo" then "Hello world!"
    assert displayed(view, delta("Next"), final("Next")) == "Next"  # the next message is as usual


def test_a_taken_over_attempt_ending_within_the_shown_text_adds_what_the_final_says_beyond() -> None:
    view = translator()
    before = displayed(view, delta("Hello "), delta("wor"))
    assert before + displayed(view, RESET, delta("Hello"), final("Hello world")) == "Hello world"
    view = translator()
    before = displayed(view, delta("Hello "), delta("wor"))
    assert displayed(view, RESET, final("Hello wor")) == ""  # the final alone, exactly what the client has


def test_a_taken_over_attempt_saying_something_else_is_sent_whole_after_a_restart_line() -> None:
    view = translator()
    before = displayed(view, delta("Hello "), delta("wor"))
    after = displayed(view, RESET, delta("Hel"), delta("p is"), delta(" here"), final("Help is here"))
    assert before + after == f"Hello wor{RESTARTED}Help is here"
    view = translator()
    displayed(view, delta("Hello "), delta("wor"))
    assert displayed(view, RESET, final("Bye")) == f"{RESTARTED}Bye"


def test_a_reset_before_any_text_changes_nothing() -> None:
    view = translator()
    assert displayed(view, RESET, delta("Hi"), final("Hi")) == "Hi"
