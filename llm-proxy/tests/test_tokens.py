"""The prompt-size estimate."""

from __future__ import annotations

from llm_proxy.schemas import ChatCompletionRequest
from llm_proxy.tokens import estimate_prompt_tokens


def request(**body: object) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate(body)


def test_the_estimate_grows_with_text_tools_and_images():
    base = estimate_prompt_tokens(request(messages=[{"role": "user", "content": "x" * 400}]))
    assert 100 <= base <= 120
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "description": "y" * 400}}}
    assert estimate_prompt_tokens(request(messages=[{"role": "user", "content": "x" * 400}], tools=[tool])) > base + 90
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    parts = [{"type": "text", "text": "x" * 400}, image]
    assert estimate_prompt_tokens(request(messages=[{"role": "user", "content": parts}])) > base + 700


def test_non_latin_text_counts_more_per_character():
    latin = estimate_prompt_tokens(request(messages=[{"role": "user", "content": "a" * 300}]))
    cjk = estimate_prompt_tokens(request(messages=[{"role": "user", "content": "漢" * 300}]))
    assert cjk > 2 * latin
