"""llm-proxy: an OpenAI-compatible chat-completions API in front of several LLM providers."""

__version__ = "0.1.0"
