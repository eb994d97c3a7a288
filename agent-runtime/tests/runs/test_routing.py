"""Agents: the orchestrator routes a new task (LLM, keyword fallback); users and agents switch."""

from __future__ import annotations

from .harness import Harness, shape, tool_result, user


async def test_the_orchestrator_routes_with_the_models_classification() -> None:
    harness = Harness()

    chunks = await harness.send(user("[[route:architect 0.9 a design question]] Sketch the modules"))

    assert shape(chunks) == [
        ("agent_switched", "orchestrator", "architect"),
        ("delta", "Sketch"),
        ("delta", " the"),
        ("delta", " modules"),
        ("final", "Sketch the modules"),
        ("done", "completed"),
    ]
    switched = chunks[0]
    assert switched["reason"] == "a design question"
    assert switched["metadata"] == {
        "from_agent": "orchestrator",
        "to_agent": "architect",
        "reason": "a design question",
        "confidence": 0.9,
    }
    assert harness.model.requests[0]["response_format"] == {"type": "json_object"}
    assert chunks[-2]["metadata"] == {"agent": "architect"}


async def test_garbage_from_the_classifier_falls_back_to_keywords() -> None:
    harness = Harness()

    chunks = await harness.send(user("fix the crash in main.dart"))

    assert shape(chunks)[0] == ("agent_switched", "orchestrator", "debug")
    assert chunks[0]["reason"] == "keywords of the debug agent"


async def test_a_failing_classifier_falls_back_to_keywords_before_the_agent_is_called() -> None:
    harness = Harness()

    chunks = await harness.send(user("[[fault:500]] why is the sky blue?"))

    assert shape(chunks) == [("agent_switched", "orchestrator", "ask"), ("error", "llm_error"), ("done", "error")]
    assert chunks[0]["reason"] == "keywords of the ask agent"


async def test_a_follow_up_stays_with_the_agent_of_the_open_task() -> None:
    harness = Harness()
    await harness.send(user("[[route:coder 0.8 code]] write a widget"))

    chunks = await harness.send(user("and explain it?"))

    assert [c for c in shape(chunks) if c[0] == "agent_switched"] == []
    assert len([r for r in harness.model.requests if r["response_format"]]) == 1


async def test_after_attempt_completion_the_next_message_is_routed_again() -> None:
    harness = Harness()
    await harness.send(user('[[route:coder 0.8 code]] [[tool:attempt_completion {"result": "Done"}]]'))

    chunks = await harness.send(user("[[route:architect 0.7 design]] now design it"))

    assert shape(chunks)[0] == ("agent_switched", "coder", "architect")


async def test_the_user_switches_with_switch_agent_and_stays_pinned() -> None:
    harness = Harness()
    await harness.send(user('[[route:coder 0.8 code]] [[tool:attempt_completion {"result": "Done"}]]'))

    switched = await harness.send({"type": "switch_agent", "agent_type": "debug", "content": "Switched to Debug"})
    chunks = await harness.send(user("[[route:architect 0.9 design]] design something"))

    assert shape(switched) == [("agent_switched", "coder", "debug"), ("done", "completed")]
    assert [c for c in shape(chunks) if c[0] == "agent_switched"] == []
    assert chunks[-2]["metadata"] == {"agent": "debug"}


async def test_switching_to_the_current_agent_changes_nothing() -> None:
    harness = Harness()

    chunks = await harness.send({"type": "switch_agent", "agent_type": "orchestrator"})

    assert shape(chunks) == [("status", "same_agent"), ("done", "completed")]


async def test_user_message_agent_type_forces_the_agent() -> None:
    harness = Harness()

    chunks = await harness.send(user("[[route:architect 0.9 design]] hi", agent_type="ask"))

    assert shape(chunks)[0] == ("agent_switched", "orchestrator", "ask")
    assert chunks[0]["reason"] == "chosen by the user"
    assert all(r["response_format"] is None for r in harness.model.requests)


async def test_an_agent_hands_over_with_switch_mode_and_the_new_agent_continues() -> None:
    harness = Harness()
    script = '[[route:coder 0.8 code]] [[tool:switch_mode {"mode": "debug", "reason": "needs a debugger"}]]'

    chunks = await harness.send(user(script))

    assert shape(chunks) == [
        ("agent_switched", "orchestrator", "coder"),
        ("agent_switched", "coder", "debug"),
        ("delta", "Done."),
        ("final", "Done."),
        ("done", "completed"),
    ]
    assert chunks[1]["reason"] == "needs a debugger"
    assert chunks[-2]["metadata"] == {"agent": "debug"}


async def test_a_tool_the_agent_may_not_use_is_refused_and_the_model_told_why() -> None:
    harness = Harness()
    script = '[[route:ask 0.9 question]] [[tool:write_file {"path": "a.py", "content": "x"}]]'

    chunks = await harness.send(user(script))

    assert shape(chunks)[-1] == ("done", "completed")
    assert "may not use 'write_file'" in harness.history()[2]["content"]


async def test_the_architect_writes_markdown_only_after_path_normalisation() -> None:
    harness = Harness()
    script = (
        '[[route:architect 0.9 docs]] [[tool:write_file {"path": "docs/%2e%2e/x.md", "content": "x"}]]'
        ' [[tool:write_file {"path": "main.py", "content": "x"}]]'
        ' [[tool:write_file {"path": "docs/design.md", "content": "x"}]]'
    )

    chunks = await harness.send(user(script))

    assert shape(chunks)[1:] == [
        ("tool_refused",),
        ("tool_refused",),
        ("tool_call", "write_file", True),
        ("done", "approval"),
    ]
    assert chunks[3]["arguments"]["path"] == "docs/design.md"
    refusals = [m["content"] for m in harness.history() if m["role"] == "tool"]
    assert "percent-encoded" in refusals[0]
    assert "may only write files ending in .md" in refusals[1]


async def test_single_agent_mode_never_routes() -> None:
    harness = Harness(multi_agent=False)

    chunks = await harness.send(user("[[route:architect 0.9 design]] design it"))

    assert [c for c in shape(chunks) if c[0] == "agent_switched"] == []
    assert all(r["response_format"] is None for r in harness.model.requests)


async def test_a_session_whose_agent_left_the_catalogue_says_so_and_its_next_message_is_routed_again() -> None:
    harness = Harness()
    await harness.send(user('[[route:coder 0.8 code]] [[tool:read_file {"path": "a.txt"}]] read it'))
    harness.uows.store.sessions["s1"].current_agent = "retired"  # the configuration no longer has the agent

    answered = await harness.send(tool_result(harness.history()[-1]["tool_calls"][0]["id"], {"content": "x"}))
    rerouted = await harness.send(user("[[route:ask 0.9 a question]] what is it?"))

    assert shape(answered) == [("error", "unknown_agent"), ("done", "error")]
    assert "'retired'" in answered[0]["content"]
    assert shape(rerouted)[0] == ("agent_switched", "retired", "ask")
    assert shape(rerouted)[-1] == ("done", "completed")
