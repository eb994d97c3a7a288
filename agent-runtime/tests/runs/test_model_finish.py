"""A turn whose model was cut off says so in its ``done`` (``model_finish``: ``length`` at the token limit,
``content_filter`` when the provider refused), so a client can tell it from a normal end (ACP: ``max_tokens``,
``refusal``); an ordinary end adds nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.fake_llm import FakeLLM

from .harness import Harness, user


class CutOffModel(FakeLLM):
    """The scripted model, ending each answer with ``finish_reason`` as providers stream it."""

    def __init__(self, finish_reason: str) -> None:
        super().__init__()
        self.finish_reason = finish_reason

    async def stream_chat(self, **kwargs: Any) -> AsyncIterator[dict[str, Any]]:  # type: ignore[override]
        async for chunk in super().stream_chat(**kwargs):
            if "usage" in chunk:
                yield {"choices": [{"index": 0, "delta": {}, "finish_reason": self.finish_reason}]}
            yield chunk


@pytest.mark.parametrize("finish_reason", ["length", "content_filter"])
async def test_a_cut_off_answer_ends_the_turn_with_the_models_finish(finish_reason: str) -> None:
    harness = Harness(multi_agent=False, model=CutOffModel(finish_reason))
    chunks = await harness.send(user("a long story"))
    assert (chunks[-1]["stop_reason"], chunks[-1]["model_finish"]) == ("completed", finish_reason)
    assert harness.logged()[-1]["model_finish"] == finish_reason  # durable: a replay says the same


async def test_an_ordinary_end_adds_nothing_to_done() -> None:
    harness = Harness(multi_agent=False, model=CutOffModel("stop"))
    chunks = await harness.send(user("short"))
    assert "model_finish" not in chunks[-1]


async def test_a_turn_that_waits_for_a_tool_does_not_claim_a_cut_off() -> None:
    harness = Harness(multi_agent=False, model=CutOffModel("length"))
    chunks = await harness.send(user('[[tool:read_file {"path": "a.txt"}]]'))
    assert chunks[-1]["stop_reason"] == "tool_call"
    assert "model_finish" not in chunks[-1]
