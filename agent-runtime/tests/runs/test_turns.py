"""Turns: text streamed as deltas then one final message; every tool call of a response kept in one assistant
message and handed to the IDE one at a time; results exactly once per call."""

from __future__ import annotations

from .harness import Harness, shape, tool_result, user

READ_TWO = '[[text:Let me look.]] [[tool:read_file {"path": "a.txt"}]] [[tool:list_files {"path": "."}]]'
OK = {"success": True, "content": "x", "lines_read": 1}


async def test_plain_text_streams_deltas_then_the_final_message_and_done() -> None:
    harness = Harness(multi_agent=False)

    chunks = await harness.send(user("hello world"))

    assert shape(chunks) == [("delta", "hello"), ("delta", " world"), ("final", "hello world"), ("done", "completed")]
    assert chunks[-1]["usage"] == {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}
    assert all(chunk["session_id"] == "s1" for chunk in chunks)
    assert [c["seq"] for c in chunks] == sorted({c["seq"] for c in chunks})
    assert harness.history() == [
        {"role": "user", "content": "hello world"},
        {"role": "assistant", "content": "hello world"},
    ]
    assert [c["type"] for c in harness.logged()] == ["assistant_message", "done"]


async def test_the_final_message_names_its_agent_and_null_keys_are_left_out() -> None:
    harness = Harness(multi_agent=False)

    chunks = await harness.send(user("hi"))

    assert chunks[-2] == {
        "type": "assistant_message",
        "content": "hi",
        "is_final": True,
        "metadata": {"agent": "universal"},
        "session_id": "s1",
        "seq": chunks[-2]["seq"],
    }


async def test_one_tool_call_is_handed_to_the_ide_and_its_result_continues_the_turn() -> None:
    harness = Harness(multi_agent=False)

    first = await harness.send(user('[[tool:read_file {"path": "a.txt", "start_line": 1}]]'))
    call = first[0]
    second = await harness.send(tool_result(call["call_id"], OK))

    assert shape(first) == [("tool_call", "read_file", False), ("done", "tool_call")]
    assert call["arguments"] == {"path": "a.txt", "start_line": 1}
    assert shape(second) == [("delta", "Done."), ("final", "Done."), ("done", "completed")]
    assert [m["role"] for m in harness.history()] == ["user", "assistant", "tool", "assistant"]
    assert harness.history()[2]["content"] == '{"success":true,"content":"x","lines_read":1}'


async def test_all_tool_calls_of_a_response_are_kept_in_one_message_and_handed_out_one_at_a_time() -> None:
    harness = Harness(multi_agent=False)

    first = await harness.send(user(READ_TWO))
    second = await harness.send(tool_result(first[-2]["call_id"], OK))
    model_calls = len(harness.model.requests)
    third = await harness.send(tool_result(second[0]["call_id"], {"success": True, "items": []}))

    assert shape(first) == [
        ("delta", "Let"),
        ("delta", " me"),
        ("delta", " look."),
        ("final", "Let me look."),
        ("tool_call", "read_file", False),
        ("done", "tool_call"),
    ]
    assert shape(second) == [("tool_call", "list_files", False), ("done", "tool_call")]
    assert model_calls == 1  # no model call until every call of the message has its result
    assert shape(third) == [("delta", "Done."), ("final", "Done."), ("done", "completed")]
    assistant = harness.history()[1]
    assert assistant["content"] == "Let me look."
    assert [c["function"]["name"] for c in assistant["tool_calls"]] == ["read_file", "list_files"]
    assert [m["role"] for m in harness.history()] == ["user", "assistant", "tool", "tool", "assistant"]


async def test_a_duplicate_tool_result_changes_nothing_and_calls_no_model() -> None:
    harness = Harness(multi_agent=False)
    first = await harness.send(user(READ_TWO))
    await harness.send(tool_result(first[-2]["call_id"], OK))
    history, calls, logged = harness.history(), len(harness.model.requests), harness.logged()

    again = await harness.send(tool_result(first[-2]["call_id"], {"success": False}))

    assert shape(again) == [("status", "duplicate_tool_result"), ("done", "tool_call")]
    assert harness.history() == history
    assert len(harness.model.requests) == calls
    assert harness.logged() == logged


async def test_a_tool_result_for_an_unknown_call_gets_an_error_event() -> None:
    harness = Harness(multi_agent=False)
    await harness.send(user("hello"))

    chunks = await harness.send(tool_result("call_nope", OK))

    assert shape(chunks) == [("error", "unknown_call_id"), ("done", "completed")]
    assert "call_nope" in chunks[0]["content"]


async def test_an_error_result_reaches_the_model_as_a_failed_tool_result() -> None:
    harness = Harness(multi_agent=False)
    first = await harness.send(user('[[tool:read_file {"path": "missing.txt"}]]'))

    await harness.send(tool_result(first[0]["call_id"], error="Файл не найден"))

    tool_message = harness.model.requests[-1]["messages"][-1]
    assert tool_message == {
        "role": "tool",
        "content": "Error: Файл не найден",
        "tool_call_id": first[0]["call_id"],
        "name": "read_file",
    }


async def test_the_model_gets_the_agents_tools_and_system_prompt() -> None:
    harness = Harness(multi_agent=False)

    await harness.send(user("hi"))

    request = harness.model.requests[0]
    assert request["messages"][0]["role"] == "system"
    names = {tool["function"]["name"] for tool in request["tools"]}
    assert {"read_file", "write_file", "attempt_completion", "create_plan"} <= names
    assert "switch_mode" not in names


async def test_invalid_arguments_are_refused_and_the_model_is_told_why() -> None:
    harness = Harness(multi_agent=False)

    chunks = await harness.send(user('[[tool:read_file {"start_line": "one"}]]'))

    assert shape(chunks) == [("delta", "Done."), ("final", "Done."), ("done", "completed")]
    refusal = harness.history()[2]
    assert refusal["role"] == "tool"
    assert refusal["content"].startswith("Error: Invalid arguments for tool 'read_file'")


async def test_attempt_completion_ends_the_turn_with_its_result() -> None:
    harness = Harness(multi_agent=False)

    chunks = await harness.send(user('[[tool:attempt_completion {"result": "All **done**."}]]'))

    assert shape(chunks) == [("final", "All **done**."), ("done", "completed")]
    assert [m["role"] for m in harness.history()] == ["user", "assistant", "tool", "assistant"]


async def test_ask_followup_question_shows_the_question_and_waits_for_the_user() -> None:
    harness = Harness(multi_agent=False)
    script = '[[tool:ask_followup_question {"question": "Which file?", "suggestions": ["a.py", "b.py"]}]]'

    chunks = await harness.send(user(script))
    answer = await harness.send(user("a.py"))

    assert shape(chunks) == [("final", "Which file?\n\n- a.py\n- b.py"), ("done", "question")]
    assert shape(answer)[-1] == ("done", "completed")
    assert harness.model.requests[-1]["messages"][-1] == {"role": "user", "content": "a.py"}


async def test_run_command_is_handed_out_as_execute_command() -> None:
    harness = Harness(multi_agent=False)

    chunks = await harness.send(user('[[tool:run_command {"command": "git status"}]]'))

    assert chunks[0]["tool_name"] == "execute_command"
    assert chunks[0]["arguments"] == {"command": "git status"}
    assert chunks[0]["requires_approval"] is False  # a read-only command on the allow-list


async def test_a_new_user_message_closes_calls_the_ide_never_answered() -> None:
    harness = Harness(multi_agent=False)
    first = await harness.send(user('[[tool:read_file {"path": "a.txt"}]]'))

    chunks = await harness.send(user("never mind, say hi"))
    late = await harness.send(tool_result(first[0]["call_id"], OK))

    assert shape(chunks)[-1] == ("done", "completed")
    roles = [m["role"] for m in harness.history()]
    assert roles == ["user", "assistant", "tool", "user", "assistant"]
    assert harness.history()[2]["content"].startswith("Error: not run")
    assert shape(late) == [("status", "duplicate_tool_result"), ("done", "completed")]
