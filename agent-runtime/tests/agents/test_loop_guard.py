"""The loop guard: too many tool rounds or the same call repeated stop the turn."""

from typing import Any

from agent_runtime.agents.loop_guard import LoopGuard, canonical_call


def assistant(*calls: tuple[str, str]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": f"c{i}", "type": "function", "function": {"name": name, "arguments": arguments}}
            for i, (name, arguments) in enumerate(calls)
        ],
    }


def result(content: str = "ok") -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": "c0", "content": content}


def test_a_short_turn_passes() -> None:
    turn = [assistant(("read_file", '{"path": "a"}')), result(), assistant(("read_file", '{"path": "b"}'))]
    assert LoopGuard().check(turn) is None


def test_more_rounds_than_allowed_stop_the_turn() -> None:
    guard = LoopGuard(max_tool_rounds=3)
    turn = []
    for index in range(3):
        turn += [assistant(("read_file", f'{{"path": "{index}"}}')), result()]
    assert guard.check(turn) is None
    turn.append(assistant(("read_file", '{"path": "x"}')))
    stop = guard.check(turn)
    assert stop is not None
    assert stop.reason == "max_tool_rounds"
    assert "more than 3 rounds" in stop.message


def test_the_same_call_repeated_stops_the_turn_whatever_the_key_order() -> None:
    guard = LoopGuard(max_identical_calls=3)
    turn = [
        assistant(("read_file", '{"path": "a", "start_line": 1}')),
        result(),
        assistant(("read_file", '{"start_line": 1, "path": "a"}')),
        result(),
    ]
    assert guard.check(turn) is None
    turn.append(assistant(("read_file", '{"start_line":1,"path":"a"}')))
    stop = guard.check(turn)
    assert stop is not None
    assert stop.reason == "repeated_call"
    assert "'read_file' was called 3 times" in stop.message


def test_aliases_count_as_the_same_tool() -> None:
    turn = [assistant(("run_command", '{"command": "ls"}'), ("execute_command", '{"command": "ls"}'))]
    stop = LoopGuard(max_identical_calls=2).check(turn)
    assert stop is not None
    assert stop.reason == "repeated_call"


def test_different_arguments_are_different_calls() -> None:
    turn = [assistant(("read_file", f'{{"path": "{name}"}}')) for name in "abcdef"]
    assert LoopGuard(max_identical_calls=2).check(turn) is None


def test_messages_without_tool_calls_are_not_rounds() -> None:
    turn = [{"role": "assistant", "content": "thinking"} for _ in range(50)]
    assert LoopGuard(max_tool_rounds=1).check(turn) is None


def test_unparsable_arguments_compare_as_text() -> None:
    call = {"function": {"name": "read_file", "arguments": "{broken"}}
    assert canonical_call(call) == ("read_file", "{broken")
    assert canonical_call({"function": {"name": "x", "arguments": {"b": 1, "a": 2}}}) == ("x", '{"a":2,"b":1}')
