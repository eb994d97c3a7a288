"""Chunk shapes the run engine adds to the core's builders (``application/chunks.py``): token deltas, status notes,
and the plan chunks with the IDE's plan summary (titles and readable estimates from ``agents.plans``).

Chunks are flat JSON objects with null keys omitted (doc/contracts.md). The delta builder is on the hot path (one call
per token) and stays a bare dict literal.
"""

from __future__ import annotations

from typing import Any

Chunk = dict[str, Any]


def delta(token: str) -> Chunk:
    """A text delta of the running turn (not durable: folded into the final message)."""
    return {"type": "assistant_message", "token": token, "is_final": False}


def plan_approval_required(approval_id: str, plan_id: str, summary: dict[str, Any], content: str) -> Chunk:
    return {
        "type": "plan_approval_required",
        "approval_request_id": approval_id,
        "plan_id": plan_id,
        "plan_summary": summary,
        "content": content,
    }


def plan_progress(plan_id: str, content: str, *, subtask_id: str | None, status: str) -> Chunk:
    return {
        "type": "plan_progress",
        "plan_id": plan_id,
        "content": content,
        "metadata": {"subtask_id": subtask_id, "status": status},
    }


def status(content: str, **metadata: Any) -> Chunk:
    """A note about the stream itself (e.g. a message queued behind a running turn); not durable."""
    return {"type": "status", "content": content, "metadata": metadata}


def without_nulls(chunk: Chunk) -> Chunk:
    """The contract omits null keys (also inside ``metadata``)."""
    out = {key: value for key, value in chunk.items() if value is not None}
    metadata = out.get("metadata")
    if isinstance(metadata, dict):
        out["metadata"] = {key: value for key, value in metadata.items() if value is not None}
    return out
