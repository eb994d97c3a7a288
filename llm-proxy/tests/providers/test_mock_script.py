"""The mock's directive language, parsed without any I/O."""

from __future__ import annotations

import json
from typing import Any

from llm_proxy.providers.mock_script import parse, plan, route_answer, split_awkwardly
from llm_proxy.schemas import ChatCompletionRequest


def request(*messages: dict[str, Any], **extra: Any) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate({"messages": list(messages), **extra})


def tool_round(call_id: str) -> list[dict[str, Any]]:
    call = {"id": call_id, "type": "function", "function": {"name": "f", "arguments": "{}"}}
    return [{"role": "assistant", "tool_calls": [call]}, {"role": "tool", "tool_call_id": call_id, "content": "ok"}]


def test_directives_are_removed_from_the_echo():
    text, directives = parse('please [[text:hi]] read [[tool:read {"p": "]]"}]] now')
    assert text == "please read now"
    assert [(d.kind, d.value, d.tool_name) for d in directives] == [("text", "hi", ""), ("tool", '{"p": "]]"}', "read")]


def test_tool_arguments_may_contain_brackets_and_default_to_an_empty_object():
    _, directives = parse('[[tool:edit {"a": [[1, 2]], "b": "x]]y"}]] [[tool:ls]]')
    assert json.loads(directives[0].value) == {"a": [[1, 2]], "b": "x]]y"}
    assert directives[1].value == "{}"


def test_unknown_or_unclosed_brackets_stay_text():
    text, directives = parse("list [[0]] and [[nothing:here]] and [[text:open")
    assert directives == []
    assert text == "list [[0]] and [[nothing:here]] and [[text:open"


def test_the_round_counts_assistant_tool_calls_after_the_last_user_message():
    first = {"role": "user", "content": "[[tool:a]] [[2:tool:b]] [[3:text:all done]]"}
    assert plan(request(first)).round == 1
    assert plan(request(first)).tools == [("a", "{}")]
    assert plan(request(first, *tool_round("x"))).tools == [("b", "{}")]
    third = plan(request(first, *tool_round("x"), *tool_round("y")))
    assert third.round == 3
    assert third.texts == ["all done"]


def test_a_new_user_message_starts_again_at_round_one():
    old = {"role": "user", "content": "[[tool:a]]"}
    assert plan(request(old, *tool_round("x"), {"role": "user", "content": "next"})).round == 1


def test_faults_usage_and_delays_are_read_for_their_round():
    script = plan(
        request(
            {"role": "user", "content": "[[fault:429]] [[usage:12 34]] [[delay_ms:5]] [[ttft_ms:7]] [[2:fault:500]]"}
        )
    )
    assert (script.fault, script.usage, script.delay_ms, script.ttft_ms) == ("429", (12, 34), 5.0, 7.0)


def test_route_answer_is_the_classification_json():
    assert json.loads(route_answer("coder 0.9 needs code changes")) == {
        "agent": "coder",
        "confidence": 0.9,
        "reason": "needs code changes",
    }


def test_awkward_splits_join_back_and_cut_after_backslashes():
    arguments = '{"path": "a\\"b\\u00e9", "t": "Grüße 🎉"}'
    pieces = split_awkwardly(arguments)
    assert "".join(pieces) == arguments
    assert len(pieces) > 5
    assert any(p.endswith("\\") for p in pieces)


def test_long_arguments_are_split_awkwardly_only_at_the_start():
    arguments = '{"content": "' + "x" * 5000 + '"}'
    pieces = split_awkwardly(arguments)
    assert "".join(pieces) == arguments
    assert len(pieces) < 200
    assert max(len(p) for p in pieces) == 1024
