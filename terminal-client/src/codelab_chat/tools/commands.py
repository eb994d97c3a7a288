"""``execute_command`` (alias ``run_command``): a process in the workspace with a timeout and bounded output.

``shell=false`` (the default) splits the command with ``shlex`` and runs it without a shell, so ``;``, ``&&``,
pipes and redirects are plain arguments. The process gets its own process group, so a timeout kills its children
too. A non-zero exit is still a result; only a command that cannot start is an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import time
from typing import Any

from codelab_chat.tools.arguments import Arguments, optional_bool, optional_int, optional_str, required_str
from codelab_chat.tools.limits import ToolLimits
from codelab_chat.workspace import ToolError, Workspace

_DRAIN_GRACE_SECONDS = 5.0
# The client's own credential must not reach commands the agent runs (``env`` would hand it to the model).
_WITHHELD_VARIABLES = frozenset({"CODELAB_TOKEN"})


async def execute_command(workspace: Workspace, limits: ToolLimits, arguments: Arguments) -> dict[str, Any]:
    """Run ``command`` in ``cwd`` (relative to the workspace) for at most ``timeout`` seconds."""
    command = required_str(arguments, "command")
    cwd = optional_str(arguments, "cwd", ".") or "."
    timeout = optional_int(arguments, "timeout", limits.default_timeout) or limits.default_timeout
    timeout = min(max(timeout, 1), limits.max_timeout)
    shell = optional_bool(arguments, "shell", False)
    directory = workspace.resolve(cwd)
    if not directory.is_dir():
        raise ToolError(f"Working directory not found: {cwd}")
    started = time.monotonic()
    process = await _start(command, shell, str(directory))
    assert process.stdout is not None
    assert process.stderr is not None
    stdout = asyncio.ensure_future(_collect(process.stdout, limits.max_output_bytes))
    stderr = asyncio.ensure_future(_collect(process.stderr, limits.max_output_bytes))
    timed_out = False
    try:
        await asyncio.wait_for(process.wait(), timeout)
    except TimeoutError:
        timed_out = True
        _kill_group(process)
        await process.wait()
    finally:
        if process.returncode is None:
            _kill_group(process)
    out, err = await _finish(stdout), await _finish(stderr)
    return {
        "command": command,
        "exit_code": process.returncode if process.returncode is not None else -1,
        "stdout": out,
        "stderr": err,
        "duration_ms": int((time.monotonic() - started) * 1000),
        "timed_out": timed_out,
    }


async def _start(command: str, shell: bool, cwd: str) -> asyncio.subprocess.Process:
    pipes: dict[str, Any] = {
        "stdin": asyncio.subprocess.DEVNULL,
        "stdout": asyncio.subprocess.PIPE,
        "stderr": asyncio.subprocess.PIPE,
        "cwd": cwd,
        "start_new_session": True,
        "env": {name: value for name, value in os.environ.items() if name not in _WITHHELD_VARIABLES},
    }
    if shell:
        return await asyncio.create_subprocess_shell(command, **pipes)
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ToolError(f"Cannot parse command: {exc}") from exc
    if not argv:
        raise ToolError("Command is empty")
    try:
        return await asyncio.create_subprocess_exec(*argv, **pipes)
    except FileNotFoundError as exc:
        raise ToolError(f"Command not found: {argv[0]}") from exc
    except PermissionError as exc:
        raise ToolError(f"Command is not executable: {argv[0]}") from exc


def _kill_group(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


async def _collect(stream: asyncio.StreamReader, limit: int) -> str:
    # Keep reading past the limit so a chatty process never blocks on a full pipe; only count what is dropped.
    kept = bytearray()
    dropped = 0
    while chunk := await stream.read(65536):
        room = limit - len(kept)
        kept += chunk[:room] if room > 0 else b""
        dropped += max(len(chunk) - max(room, 0), 0)
    text = kept.decode("utf-8", errors="replace")
    if dropped:
        text += f"\n… [output truncated: {dropped} more bytes]"
    return text


async def _finish(reader: asyncio.Future[str]) -> str:
    # A grandchild that left the process group may still hold the pipe open; do not wait for it forever.
    try:
        return await asyncio.wait_for(reader, _DRAIN_GRACE_SECONDS)
    except TimeoutError:
        return "… [output incomplete: the pipe stayed open after the command ended]"
