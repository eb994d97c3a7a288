"""Runs under stress: the model down or failing, cancel, queued messages, restarts, context limits, loops."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from agent_runtime.agents.loop_guard import LoopGuard
from agent_runtime.domain.errors import Conflict, RuleViolation
from agent_runtime.domain.run import RunStatus

from .harness import Harness, shape, tool_result, user


async def test_the_proxy_down_is_retried_then_an_error_and_the_session_stays_usable() -> None:
    harness = Harness(multi_agent=False)
    harness.model.down = True

    failed = await harness.send(user("hello"))
    attempts = len(harness.model.requests)
    harness.model.down = False
    recovered = await harness.send(user("hello again"))

    assert shape(failed) == [("error", "llm_unavailable"), ("done", "error")]
    assert attempts == 3  # one call and two retries before the first token
    assert shape(recovered)[-2:] == [("final", "hello again"), ("done", "completed")]


async def test_the_circuit_breaker_stops_calling_a_dead_proxy() -> None:
    harness = Harness(multi_agent=False)
    harness.model.down = True
    for _ in range(3):
        await harness.send(user("hello"))
    calls = len(harness.model.requests)

    chunks = await harness.send(user("hello"))
    harness.clock.monotonic += 31
    harness.model.down = False
    after_cooldown = await harness.send(user("hello"))

    assert shape(chunks) == [("error", "llm_unavailable"), ("done", "error")]
    assert len(harness.model.requests) == calls + 1  # the open breaker made no call; the half-open one did
    assert shape(after_cooldown)[-1] == ("done", "completed")


async def test_a_failure_mid_stream_ends_the_turn_with_an_error_and_no_retry() -> None:
    harness = Harness(multi_agent=False)

    chunks = await harness.send(user("[[fault:midstream]] one two three four"))

    assert shape(chunks) == [
        ("delta", "one"),
        ("delta", " two"),
        ("error", "llm_stream_failed"),
        ("done", "error"),
    ]
    assert len(harness.model.requests) == 1
    assert [m["role"] for m in harness.history()] == ["user"]


async def test_cancel_ends_the_running_turn() -> None:
    harness = Harness(multi_agent=False)
    harness.model.hold = asyncio.Event()
    ticket, follower = await harness.submit(user("a long answer"))
    await harness.model.called.wait()

    cancelled = await harness.send({"type": "cancel"})
    original = await harness.read(ticket, follower)

    assert shape(cancelled) == [("done", "cancelled")]
    assert shape(original) == [("done", "cancelled")]
    assert all(run.status is RunStatus.STOPPED for run in harness.uows.store.runs.values())
    harness.model.hold = None
    assert shape(await harness.send(user("next")))[-1] == ("done", "completed")


async def test_cancel_with_nothing_running_changes_nothing() -> None:
    harness = Harness(multi_agent=False)

    chunks = await harness.send({"type": "cancel"})

    assert shape(chunks) == [("status", "nothing_to_cancel"), ("done", "cancelled")]


async def test_cancel_while_waiting_for_a_tool_result_gives_up_the_call() -> None:
    harness = Harness(multi_agent=False)
    first = await harness.send(user('[[tool:read_file {"path": "a"}]]'))

    chunks = await harness.send({"type": "cancel"})

    assert shape(chunks) == [("done", "cancelled")]
    assert not harness.uows.store.tool_calls[("s1", first[0]["call_id"])].is_outstanding


async def test_a_message_during_a_turn_is_queued_and_processed_next() -> None:
    harness = Harness(multi_agent=False)
    harness.model.hold = asyncio.Event()
    first_ticket, first_follower = await harness.submit(user("first"))
    await harness.model.called.wait()

    second_ticket, second_follower = await harness.submit(user("second"))
    harness.model.hold.set()
    first = await harness.read(first_ticket, first_follower)
    second = await harness.read(second_ticket, second_follower)

    # Followers of the running turn learn about the queued message too (it is news for the session).
    assert shape(first) == [("status", "queued"), ("delta", "first"), ("final", "first"), ("done", "completed")]
    assert shape(second) == [("status", "queued"), ("delta", "second"), ("final", "second"), ("done", "completed")]
    assert [m["content"] for m in harness.history()] == ["first", "first", "second", "second"]


async def test_a_turn_interrupted_by_a_restart_is_taken_over_at_start_up() -> None:
    harness = Harness(multi_agent=False)
    harness.model.hold = asyncio.Event()
    _ticket, follower = await harness.submit(user("hello"))
    await harness.model.called.wait()
    await harness.engine.aclose()  # the process goes away mid-generation
    harness.fanout.leave("s1", follower)

    restarted = Harness(uows=harness.uows, multi_agent=False)
    follower = restarted.fanout.follow("s1")
    assert await restarted.engine.recover() == 1
    await restarted.engine.idle("s1")
    live = [follower.queue.get_nowait() for _ in range(follower.queue.qsize())]

    assert shape(restarted.logged()[-2:]) == [("final", "hello"), ("done", "completed")]
    assert [m["role"] for m in restarted.history()] == ["user", "assistant"]  # the answer once
    assert shape([orjson.loads(data) | {"seq": seq} for seq, data in live]) == [
        ("message_reset",),  # clients drop the deltas of the abandoned attempt
        ("delta", "hello"),
        ("final", "hello"),
        ("done", "completed"),
    ]
    assert await restarted.engine.recover() == 0
    assert shape(await restarted.send(user("again")))[-1] == ("done", "completed")


async def test_a_session_waiting_for_a_tool_result_still_waits_after_a_restart() -> None:
    harness = Harness(multi_agent=False)
    first = await harness.send(user('[[tool:read_file {"path": "a"}]]'))
    await harness.engine.aclose()

    restarted = Harness(uows=harness.uows, multi_agent=False)
    assert await restarted.engine.recover() == 0
    chunks = await restarted.send(tool_result(first[0]["call_id"], {"success": True}))

    assert shape(chunks) == [("delta", "Done."), ("final", "Done."), ("done", "completed")]


async def test_the_history_is_trimmed_to_the_models_context_window() -> None:
    harness = Harness(multi_agent=False, windows={"mock": 3_000})
    for index in range(6):
        await harness.send(user(f"message {index} " + "word " * 300))

    sent = harness.model.requests[-1]["messages"]

    assert len(sent) < 2 + 2 * 6
    assert sent[0]["role"] == "system"
    assert any("Earlier conversation condensed" in str(m["content"]) for m in sent)
    assert sent[-1]["content"].startswith("message 5")


async def test_the_loop_guard_stops_a_turn_that_repeats_the_same_call() -> None:
    harness = Harness(multi_agent=False, guard=LoopGuard(max_identical_calls=2))
    call = '{"path": "a"}'
    first = await harness.send(user(f"[[tool:read_file {call}]] [[2:tool:read_file {call}]]"))

    chunks = await harness.send(tool_result(first[0]["call_id"], {"success": True}))

    assert shape(chunks) == [("error", "repeated_call"), ("done", "error")]
    assert harness.history()[-1]["role"] == "assistant"
    assert [m["role"] for m in harness.history()].count("tool") == 2


async def test_the_same_client_message_id_replays_the_original_answer() -> None:
    harness = Harness(multi_agent=False)
    original = await harness.send(user("hello", client_message_id="m1"))

    repeated = await harness.send(user("hello", client_message_id="m1"))

    assert [c for c in original if c.get("is_final") is not False] == repeated
    assert len(harness.model.requests) == 1
    with pytest.raises(RuleViolation):
        await harness.engine.submit("s1", _frame("different", "m1"))


async def test_a_client_message_id_still_running_is_a_conflict() -> None:
    harness = Harness(multi_agent=False)
    harness.model.hold = asyncio.Event()
    await harness.submit(user("hello", client_message_id="m1"))
    await harness.model.called.wait()

    with pytest.raises(Conflict):
        await harness.engine.submit("s1", _frame("hello", "m1"))
    harness.model.hold.set()


async def test_a_client_message_id_is_remembered_across_a_restart() -> None:
    harness = Harness(multi_agent=False)
    original = await harness.send(user("hello", client_message_id="m1"))
    await harness.engine.aclose()

    restarted = Harness(multi_agent=False, uows=harness.uows)
    repeated = await restarted.send(user("hello", client_message_id="m1"))

    assert repeated == [c for c in original if c.get("is_final") is not False]
    assert [m["role"] for m in restarted.history()] == ["user", "assistant"]
    assert len(restarted.model.requests) == 0


async def test_a_repeat_of_a_message_a_restart_interrupted_gets_the_taken_over_answer() -> None:
    harness = Harness(multi_agent=False)
    harness.model.hold = asyncio.Event()
    _ticket, follower = await harness.submit(user("hello", client_message_id="m1"))
    await harness.model.called.wait()
    await harness.engine.aclose()
    harness.fanout.leave("s1", follower)

    restarted = Harness(uows=harness.uows, multi_agent=False)
    await restarted.engine.recover()
    await restarted.engine.idle("s1")
    repeated = await restarted.send(user("hello", client_message_id="m1"))

    assert shape(repeated) == [("final", "hello"), ("done", "completed")]
    assert [m["role"] for m in restarted.history()] == ["user", "assistant"]


def _frame(content: str, client_id: str):  # type: ignore[no-untyped-def]
    from agent_runtime.runs.frames import parse_frame

    return parse_frame(user(content, client_message_id=client_id))
