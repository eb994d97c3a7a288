"""Close codes the gateway uses (documented in doc/protocol.md) and the signal that ends a connection."""

from __future__ import annotations

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001  # shutdown: the runtime's run continues, reconnect and resume
CLOSE_UNSUPPORTED = 1003  # a binary frame
CLOSE_POLICY = 1008  # auth, Origin, another subject's session, flood
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL = 1011
CLOSE_TRY_AGAIN = 1013  # slow consumer: the outbound buffer stayed full; reconnect and resume


class Closing(Exception):
    """The connection must end with ``code``; raised inside a connection's tasks or returned by its reader."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
