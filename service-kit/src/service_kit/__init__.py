"""What the three CodeLab services share, so each piece is written once.

- ``settings``: the base settings class and a loader that stops the process with a message naming the variable.
- ``logs``: structlog JSON logs with secret redaction; uvicorn's own logs routed through the same pipeline.
- ``middleware``: pure ASGI middleware for request ids and the internal key (no ``BaseHTTPMiddleware``).
- ``errors``: the one JSON error envelope every service answers with.
- ``sse``: encoding, incremental decoding and heartbeats for Server-Sent Events.
- ``service``: ``/health`` and ``/metrics`` and the uvicorn runner.
- ``secret_files``: which file names typically hold credentials (the runtime's guardrails, the gateway's ACP tools).
"""
