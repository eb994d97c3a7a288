"""A cheap prompt-size estimate, good enough to refuse requests that cannot fit before calling anyone.

About four UTF-8 bytes per token for English and code; non-Latin scripts count more bytes per character, which
moves the estimate the safe way. Images are charged a flat amount.
"""

from __future__ import annotations

import orjson

from llm_proxy.schemas import ChatCompletionRequest

_PER_MESSAGE = 4
_PER_IMAGE = 765
_PER_TOOL = 16  # the JSON around a definition: type, function, name, description, parameters keys
_BYTES_PER_TOKEN = 4


def _tokens(text: str) -> int:
    return -(-len(text.encode()) // _BYTES_PER_TOKEN)


def estimate_prompt_tokens(request: ChatCompletionRequest) -> int:
    """Estimated prompt tokens of the messages and tool definitions."""
    total = 3
    for message in request.messages:
        total += _PER_MESSAGE
        if isinstance(message.content, str):
            total += _tokens(message.content)
        elif message.content:
            for part in message.content:
                total += _tokens(part.text or "") if part.type == "text" else _PER_IMAGE
        for call in message.tool_calls or ():
            total += _tokens(call.function.name) + _tokens(call.function.arguments) + 3
    for tool in request.tools or ():
        # From the validated fields: a ``model_dump`` of the definitions cost as much as the rest of the estimate.
        function = tool.function
        total += _PER_TOOL + _tokens(function.name) + _tokens(function.description or "")
        if function.parameters:
            total += -(-len(orjson.dumps(function.parameters)) // _BYTES_PER_TOKEN)
    return total


def estimate_text_tokens(characters: int) -> int:
    """Completion tokens for ``characters`` of output, when the upstream reported none."""
    return -(-characters // _BYTES_PER_TOKEN)
