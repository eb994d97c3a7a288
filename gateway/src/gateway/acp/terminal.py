"""One command in an ACP client's terminal: ``terminal/create``, ``wait_for_exit`` (bounded), ``output``,
``release``; ``kill`` when it runs past its time. The terminal is always released, whatever happened."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.acp.peer import ClientError, ClientGone, ClientPeer

OUTPUT_LIMIT = 1_048_576  # bytes of output the client keeps (it truncates from the start)
ANSWER_TIMEOUT = 30.0  # seconds a client may take to answer create/output/kill/release
Shown = Callable[[str], Awaitable[None]]


class ToolFailed(Exception):
    """A tool could not do its work on the client; the message goes to the model as the call's error."""


@dataclass(frozen=True, slots=True)
class TerminalRun:
    output: str
    truncated: bool
    exit_code: int | None
    signal: str | None
    timed_out: bool
    terminal_id: str


class Terminal(Protocol):
    """Runs ``program args`` in ``cwd`` on the client, for ``time_limit`` seconds at most."""

    async def __call__(
        self, program: str, args: list[str], cwd: str, time_limit: float, shown: Shown | None = None
    ) -> TerminalRun: ...


async def run_in_terminal(
    peer: ClientPeer,
    session_id: str,
    program: str,
    args: list[str],
    cwd: str,
    time_limit: float,
    shown: Shown | None = None,
) -> TerminalRun:
    """Run the command to its end (killed after ``time_limit`` s); ``shown`` learns the terminal id at once."""
    created = await peer.call(
        "terminal/create",
        {"sessionId": session_id, "command": program, "args": args, "cwd": cwd, "outputByteLimit": OUTPUT_LIMIT},
        ANSWER_TIMEOUT,
    )
    terminal_id = created.get("terminalId") if isinstance(created, dict) else None
    if not isinstance(terminal_id, str) or not terminal_id:
        raise ClientError("terminal/create", -32603, "the client answered without a terminalId")
    ids = {"sessionId": session_id, "terminalId": terminal_id}
    try:
        if shown is not None:
            await shown(terminal_id)
        timed_out = False
        try:
            exited = await peer.call("terminal/wait_for_exit", ids, time_limit)
        except TimeoutError:
            timed_out = True
            await peer.call("terminal/kill", ids, ANSWER_TIMEOUT)
            exited = None
        output = await peer.call("terminal/output", ids, ANSWER_TIMEOUT)
    finally:
        with contextlib.suppress(ClientError, ClientGone, TimeoutError):
            await asyncio.shield(peer.call("terminal/release", ids, ANSWER_TIMEOUT))
    status = _exit_status(exited, output)
    text = output.get("output") if isinstance(output, dict) else None
    return TerminalRun(
        output=text if isinstance(text, str) else "",
        truncated=bool(output.get("truncated")) if isinstance(output, dict) else False,
        exit_code=status.get("exitCode") if isinstance(status.get("exitCode"), int) else None,
        signal=status.get("signal") if isinstance(status.get("signal"), str) else None,
        timed_out=timed_out,
        terminal_id=terminal_id,
    )


def _exit_status(exited: Any, output: Any) -> dict[str, Any]:
    """``wait_for_exit``'s answer, else the ``exitStatus`` of ``terminal/output`` (after a kill)."""
    if isinstance(exited, dict):
        return exited
    if isinstance(output, dict) and isinstance(output.get("exitStatus"), dict):
        return dict(output["exitStatus"])
    return {}
