"""agent-runtime: sessions, runs and agents; streams completions from the llm-proxy."""

__version__ = "0.1.0"
