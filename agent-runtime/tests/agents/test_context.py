"""Fitting a history into a context window: what is kept, what is dropped, and tool calls never split."""

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agent_runtime.agents.context import estimate_text_tokens, estimate_tokens, fit_history

Message = dict[str, Any]
SYSTEM: Message = {"role": "system", "content": "You are the coder."}


def tool_round(index: int, result_size: int = 400) -> list[Message]:
    call = {"id": f"call_{index}", "type": "function", "function": {"name": "read_file", "arguments": '{"path":"a"}'}}
    return [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": f"call_{index}", "content": "r" * result_size},
    ]


def conversation(turns: int) -> list[Message]:
    messages = [SYSTEM]
    for index in range(turns):
        messages.append({"role": "user", "content": f"request number {index} " + "u" * 200})
        messages.extend(tool_round(index))
        messages.append({"role": "assistant", "content": f"answer {index} " + "a" * 200})
    return messages


def assert_tool_calls_have_their_results(messages: list[Message]) -> None:
    for index, message in enumerate(messages):
        if message.get("tool_calls"):
            ids = [call["id"] for call in message["tool_calls"]]
            following = [m.get("tool_call_id") for m in messages[index + 1 : index + 1 + len(ids)]]
            assert following == ids
        if message.get("role") == "tool":
            previous = messages[index - 1]
            assert previous.get("tool_calls") or previous.get("role") == "tool"


def test_the_estimate_is_a_quarter_of_the_utf8_bytes_plus_framing() -> None:
    assert estimate_text_tokens("abcd" * 10) == 10
    assert estimate_text_tokens("abcde") == 2
    assert estimate_text_tokens("привет") == 3
    assert estimate_tokens({"role": "user", "content": "abcd"}) == 5
    call = {"function": {"name": "read", "arguments": "{}"}}
    assert estimate_tokens({"role": "assistant", "content": None, "tool_calls": [call]}) == 4 + 1 + 1


def test_a_history_that_fits_is_returned_unchanged() -> None:
    messages = conversation(3)
    fitted = fit_history(messages, context_window=100_000)
    assert fitted.messages == messages
    assert (fitted.dropped_messages, fitted.truncated_tool_results, fitted.fits) == (0, 0, True)
    assert fitted.estimated_tokens == sum(estimate_tokens(m) for m in messages)


def test_the_oldest_turns_are_dropped_and_condensed_into_one_note() -> None:
    messages = conversation(10)
    fitted = fit_history(messages, context_window=1200, reserve_tokens=100)
    assert fitted.fits
    assert fitted.estimated_tokens <= 1100
    assert fitted.messages[0] == SYSTEM
    note = fitted.messages[1]
    assert note["role"] == "system"
    assert f"{fitted.dropped_messages} older messages were left out" in note["content"]
    assert "request number" in note["content"]
    assert fitted.messages[2]["role"] == "user"
    assert fitted.messages[-4:] == messages[-4:]
    kept = fitted.messages[2:]
    assert kept == messages[len(messages) - len(kept) :]
    assert fitted.dropped_messages == len(messages) - 1 - len(kept)


def test_tool_calls_are_never_separated_from_their_results() -> None:
    messages = [SYSTEM, {"role": "user", "content": "go"}]
    for index in range(12):
        messages.extend(tool_round(index, result_size=300))
    messages.append({"role": "user", "content": "and now?"})
    for window in range(200, 1500, 37):
        fitted = fit_history(messages, context_window=window)
        assert_tool_calls_have_their_results(fitted.messages)
        assert fitted.messages[-1] == {"role": "user", "content": "and now?"}


def test_the_last_user_message_and_what_follows_it_are_always_kept() -> None:
    messages = [SYSTEM, {"role": "user", "content": "old " * 300}, {"role": "user", "content": "newest"}]
    messages.extend(tool_round(1, result_size=40))
    fitted = fit_history(messages, context_window=10)
    assert fitted.messages[-3:] == messages[-3:]
    assert fitted.messages[0] == SYSTEM
    assert not fitted.fits


def test_oversized_tool_results_in_the_kept_part_are_shortened() -> None:
    messages = [SYSTEM, {"role": "user", "content": "read it"}, *tool_round(1, result_size=20_000)]
    fitted = fit_history(messages, context_window=2000)
    assert fitted.truncated_tool_results == 1
    assert fitted.fits
    content = fitted.messages[-1]["content"]
    assert content.startswith("rrrr")
    assert "characters of this tool result left out" in content
    assert messages[-1]["content"] == "r" * 20_000


def test_a_history_without_a_user_message_keeps_its_newest_units() -> None:
    messages = [SYSTEM, *tool_round(1), *tool_round(2), {"role": "assistant", "content": "done"}]
    fitted = fit_history(messages, context_window=100_000)
    assert fitted.messages == messages


def test_the_condensed_note_never_pushes_the_history_over_the_window() -> None:
    messages = [SYSTEM]
    for index in range(40):
        messages.append({"role": "user", "content": "😀" * 80 + f" {index}"})
        messages.append({"role": "assistant", "content": "ответ " * 20})
    messages.append({"role": "user", "content": "last"})
    for window in range(700, 3000, 53):
        fitted = fit_history(messages, context_window=window)
        assert fitted.fits, window
        assert fitted.estimated_tokens <= window


_texts = st.text(alphabet=st.sampled_from("ab cd\u00e9\u0436\u4e2d\U0001f600"), max_size=80)
_messages = st.lists(
    st.one_of(
        st.builds(lambda text: {"role": "user", "content": text}, _texts),
        st.builds(lambda text: {"role": "assistant", "content": text}, _texts),
        st.builds(
            lambda name, arguments: [
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": "c", "type": "function", "function": {"name": name, "arguments": arguments}}],
                },
                {"role": "tool", "tool_call_id": "c", "content": arguments},
            ],
            _texts,
            _texts,
        ),
    ),
    max_size=12,
).map(lambda items: [SYSTEM] + [m for item in items for m in (item if isinstance(item, list) else [item])])


@settings(max_examples=300, deadline=None)
@given(_messages, st.integers(min_value=0, max_value=600))
def test_whatever_says_it_fits_fits_and_a_fitting_history_is_never_cut(messages: list[Message], window: int) -> None:
    """The shortcut for histories far from the window (a character-count bound) must never let an over-long
    history through, nor cut one that fits by the exact count."""
    fitted = fit_history(messages, context_window=window)
    exact = sum(estimate_tokens(m) for m in messages)
    if fitted.fits:
        assert fitted.estimated_tokens <= window
    if exact <= window:
        assert fitted.messages == messages
        assert fitted.fits
