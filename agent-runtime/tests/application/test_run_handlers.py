"""How a run ends (FinishRun), client message ids and shown answers, through the command bus."""

from __future__ import annotations

import hashlib

import pytest

from agent_runtime.application.commands import (
    AppendMessage,
    CreateSession,
    FinishRun,
    RegisterClientMessage,
    StartRun,
)
from agent_runtime.domain.errors import NotFound
from agent_runtime.domain.message import Message
from agent_runtime.domain.run import RunStatus, StopReason
from tests.application.conftest import NOW, Harness
from tests.fakes import user_message


async def started_run(h: Harness, client_message_id: str | None = None) -> str:
    """A session ``s1`` with a running run (answering ``client_message_id``); returns the run's id."""
    await h.bus.execute(CreateSession(session_id="s1", announce=True))
    if client_message_id is not None:
        await h.bus.execute(RegisterClientMessage(session_id="s1", client_message_id=client_message_id, content="hi"))
    run = await h.bus.execute(StartRun(session_id="s1"))
    h.seen.clear()
    return str(run.id)


def failed_run(run_id: str, *, client_message_id: str | None = None) -> FinishRun:
    """The model failed after one call of ``m`` (3 + 4 tokens)."""
    return FinishRun(
        session_id="s1",
        run_id=run_id,
        reason=StopReason.ERROR,
        error="upstream down",
        code="llm_unavailable",
        model="m",
        prompt_tokens=3,
        completion_tokens=4,
        duration_ms=12,
        client_message_id=client_message_id,
    )


async def test_finish_run_stops_the_run_records_usage_and_logs_error_then_done_in_one_step(h: Harness) -> None:
    run_id = await started_run(h, client_message_id="m-1")
    commits = h.uows.store.commits
    async with h.bus.step("s1") as step:
        done_seq = await step.execute(failed_run(run_id, client_message_id="m-1"))
    store = h.uows.store
    assert store.commits == commits + 1
    run = store.runs[run_id]
    assert (run.status, run.stop_reason, run.error, run.ended_at) == (
        RunStatus.STOPPED,
        StopReason.ERROR,
        "upstream down",
        NOW,
    )
    assert [(u.model, u.prompt_tokens, u.completion_tokens, u.total_tokens, u.duration_ms) for u in store.usage] == [
        ("m", 3, 4, 7, 12)
    ]
    error, done = h.chunks("s1")[-2:]
    assert error == {
        "type": "error",
        "content": "upstream down",
        "error": "upstream down",
        "metadata": {"code": "llm_unavailable"},
        "session_id": "s1",
    }
    assert done == {
        "type": "done",
        "stop_reason": "error",
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
        "session_id": "s1",
    }
    assert done_seq == store.events["s1"][-1].seq == store.seqs["s1"]
    assert store.client_messages[("s1", "m-1")].done_seq == done_seq
    kinds = [e.event.type for e in h.seen]
    assert kinds == ["RunStopped", "SessionEventAppended", "UsageRecorded", "SessionEventAppended"]


async def test_a_finish_whose_step_fails_writes_none_of_it(h: Harness) -> None:
    run_id = await started_run(h, client_message_id="m-1")
    logged = list(h.uows.store.events["s1"])

    async def finish_then_fail() -> None:
        async with h.bus.step("s1") as step:
            await step.execute(failed_run(run_id, client_message_id="m-1"))
            raise RuntimeError("the step fails after the command: its commit never happens")

    with pytest.raises(RuntimeError, match="never happens"):
        await finish_then_fail()
    store = h.uows.store
    assert store.runs[run_id].status is RunStatus.RUNNING
    assert (store.usage, store.events["s1"]) == ([], logged)
    assert store.client_messages[("s1", "m-1")].done_seq is None
    assert h.seen == []


async def test_finishing_a_stopped_run_or_no_run_logs_only_done(h: Harness) -> None:
    run_id = await started_run(h)
    await h.bus.execute(FinishRun(session_id="s1", run_id=run_id, reason=StopReason.COMPLETED))
    h.seen.clear()
    await h.bus.execute(FinishRun(session_id="s1", run_id=run_id, reason=StopReason.CANCELLED))
    await h.bus.execute(FinishRun(session_id="s1", run_id=None, reason=StopReason.CANCELLED))
    assert h.uows.store.runs[run_id].stop_reason is StopReason.COMPLETED
    assert h.uows.store.usage == []
    assert [(c["type"], c["stop_reason"]) for c in h.chunks("s1")[-2:]] == [("done", "cancelled")] * 2
    assert [e.event.type for e in h.seen] == ["SessionEventAppended"] * 2


async def test_done_names_the_model_cut_off_only_when_the_run_completed(h: Harness) -> None:
    run_id = await started_run(h)
    cut = {"model": "m", "model_finish": "length"}
    await h.bus.execute(FinishRun(session_id="s1", run_id=run_id, reason=StopReason.TOOL_CALL, **cut))  # type: ignore[arg-type]
    await h.bus.execute(FinishRun(session_id="s1", run_id=run_id, reason=StopReason.COMPLETED, **cut))  # type: ignore[arg-type]
    assert [c.get("model_finish") for c in h.chunks("s1")[-2:]] == [None, "length"]


async def test_finishing_a_run_of_another_session_is_not_found(h: Harness) -> None:
    run_id = await started_run(h)
    await h.bus.execute(CreateSession(session_id="s2"))
    with pytest.raises(NotFound):
        await h.bus.execute(FinishRun(session_id="s2", run_id=run_id, reason=StopReason.CANCELLED))
    assert h.uows.store.runs[run_id].status is RunStatus.RUNNING


async def test_a_client_message_answer_starts_after_the_current_seq(h: Harness) -> None:
    await h.bus.execute(CreateSession(session_id="s1", announce=True))
    await h.bus.execute(RegisterClientMessage(session_id="s1", client_message_id="m-1", content="hi"))
    record = h.uows.store.client_messages[("s1", "m-1")]
    assert (record.after_seq, record.done_seq) == (1, None)
    assert record.digest == hashlib.sha256(b"hi").hexdigest()


async def test_a_shown_assistant_message_is_appended_and_logged_as_the_final_answer(h: Harness) -> None:
    await h.bus.execute(CreateSession(session_id="s1"))
    answer = Message(role="assistant", content="Done.", created_at=NOW, agent="universal")
    assert await h.bus.execute(AppendMessage(session_id="s1", message=answer, shown=True)) == 1
    assert h.uows.store.messages["s1"] == [answer]
    assert h.chunks("s1") == [
        {
            "type": "assistant_message",
            "content": "Done.",
            "is_final": True,
            "metadata": {"agent": "universal"},
            "session_id": "s1",
        }
    ]


async def test_only_an_assistant_message_with_text_and_agent_can_be_shown(h: Harness) -> None:
    await h.bus.execute(CreateSession(session_id="s1"))
    for message in (user_message("hi"), Message(role="assistant", content=None, created_at=NOW, agent="universal")):
        with pytest.raises(ValueError, match="can be shown"):
            await h.bus.execute(AppendMessage(session_id="s1", message=message, shown=True))
    assert (h.uows.store.messages.get("s1", []), h.chunks("s1")) == ([], [])
