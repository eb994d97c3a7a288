"""What a client can execute: the tool names it declared and what it guarantees about them (doc/rest.md,
``client_tools``). A session remembers the latest declaration; a session whose client never declared anything is
served as the IDE (its six tools), which the agents' policy decides (``agents.client_tools``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ClientTools:
    """``names``: the client-executed tools the client can run. ``excludes_secrets``: the client guarantees that its
    recursive listings and searches skip secret files (the guardrails may then allow them without asking)."""

    names: frozenset[str]
    excludes_secrets: bool = False

    def runs(self, tool_name: str) -> bool:
        return tool_name in self.names

    def to_json(self) -> dict[str, Any]:
        return {"names": sorted(self.names), "excludes_secrets": self.excludes_secrets}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> ClientTools:
        return cls(frozenset(value.get("names") or ()), bool(value.get("excludes_secrets")))
