"""Adapters to the outside world: the llm-proxy client, SQL persistence."""
