"""The fake LLM's knobs: defaults from the command line, overridden per request by headers or a prompt directive."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from typing import Any

FAULTS = ("none", "429", "500", "503", "stall", "truncate", "reset", "malformed")
_DIRECTIVE = re.compile(r"\[fake ([^\]]*)\]")


@dataclass(frozen=True)
class Knobs:
    ttft_ms: float = 20.0
    interval_ms: float = 20.0
    tokens: int = 64
    burst: bool = False
    fault: str = "none"
    fault_after: int = -1
    retry_after: float = 1.0
    fault_rate: float = 1.0

    def with_overrides(self, pairs: dict[str, str]) -> Knobs:
        """A copy with string values (from headers or a directive) applied; unknown names are ignored."""
        changes: dict[str, Any] = {}
        for item in fields(self):
            raw = pairs.get(item.name)
            if raw is None:
                continue
            if item.type == "bool":
                changes[item.name] = raw.lower() in ("1", "true", "yes", "on")
            elif item.type == "int":
                changes[item.name] = int(raw)
            elif item.type == "float":
                changes[item.name] = float(raw)
            else:
                changes[item.name] = raw.lower()
        return replace(self, **changes)


def header_overrides(headers: dict[str, str]) -> dict[str, str]:
    return {k[7:].replace("-", "_"): v for k, v in headers.items() if k.startswith("x-fake-")}


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


def directive_overrides(body: dict[str, Any]) -> dict[str, str]:
    match = _DIRECTIVE.search(_last_user_text(body))
    if not match:
        return {}
    return dict(part.split("=", 1) for part in re.split(r"[\s,]+", match.group(1).strip()) if "=" in part)
