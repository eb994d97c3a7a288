"""The proxy's front doors. Each door parses its API's request into the one neutral request the providers take
(``ChatCompletionRequest``) and renders the providers' neutral deltas in its API's answer; no door knows a
provider and no provider knows a door.

- ``llm_proxy.endpoint``: ``POST /v1/chat/completions`` (the OpenAI chat schema is the neutral request itself)
- ``responses``: ``POST /v1/responses`` (OpenAI Responses API)
- ``messages``: ``POST /v1/messages`` and ``/v1/messages/count_tokens`` (Anthropic Messages API)
- ``embeddings``: ``POST /v1/embeddings``
"""
