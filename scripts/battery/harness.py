"""What every battery script shares: the command line, the tally of counters and pass marks, the running system,
log scanning, and a small v2 WebSocket client.

A script is ``main = battery(name, coroutine)``: ``--long`` selects the long version, ``--keep`` keeps the work
directory (service logs, databases). The coroutine gets a ``Tally``; the script exits 0 only when every pass mark
holds, 1 when one is missed, 2 when the test itself could not run (a missing feature or tool is a failure too,
never a skip).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "scripts" / "bench"
PYTHON = str(ROOT / ".venv" / "bin" / "python")
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
if str(BENCH) not in sys.path:
    sys.path.append(str(BENCH))  # after this directory: the bench modules never shadow the battery's

import websockets  # noqa: E402
from tests.e2e.system import Service, System, free_port, start_system  # noqa: E402

__all__ = ["BENCH", "PYTHON", "ROOT", "Service", "System", "free_port"]

# Recognisable secrets: a leak anywhere is unmistakable.
PLANTED_KEY = "planted-internal-key-" + secrets.token_hex(12)
TRACEBACK = re.compile(r"Traceback \(most recent call last\)")


class MissingFeature(Exception):
    """A feature the test needs has not landed; the test fails naming it."""


@dataclass
class Tally:
    """Counters printed at the end and the pass marks checked against them."""

    name: str
    long: bool
    workdir: Path
    counters: dict[str, float] = field(default_factory=dict)
    marks: list[tuple[str, bool, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, counter: str, amount: float = 1) -> None:
        self.counters[counter] = self.counters.get(counter, 0) + amount

    def set(self, counter: str, value: float) -> None:
        self.counters[counter] = value

    def get(self, counter: str) -> float:
        return self.counters.get(counter, 0)

    def mark(self, what: str, ok: bool, detail: str = "") -> bool:
        self.marks.append((what, bool(ok), detail))
        return bool(ok)

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  · {text}", flush=True)

    @property
    def passed(self) -> bool:
        return bool(self.marks) and all(ok for _, ok, _ in self.marks)

    def report(self, seconds: float) -> None:
        print(f"\n{self.name} ({'long' if self.long else 'short'}) in {seconds:.1f} s")
        for counter, value in sorted(self.counters.items()):
            shown = f"{value:.3f}" if isinstance(value, float) and not value.is_integer() else f"{int(value)}"
            print(f"  {counter:<40} {shown}")
        for what, ok, detail in self.marks:
            print(f"  [{'PASS' if ok else 'FAIL'}] {what}{'  — ' + detail if detail else ''}")
        if not self.marks:
            print("  [FAIL] no pass mark was checked")
        summary = {"test": self.name, "passed": self.passed, "seconds": round(seconds, 1), "counters": self.counters}
        print("RESULT " + json.dumps(summary, sort_keys=True), flush=True)


def battery(name: str, body: Callable[[Tally], Coroutine[Any, Any, None]], describe: str = "") -> Callable[[], None]:
    """The ``main`` of a battery script."""

    def main() -> None:
        parser = argparse.ArgumentParser(prog=name, description=describe)
        parser.add_argument("--long", action="store_true", help="the long version (the pass-mark sizes)")
        parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, databases)")
        args = parser.parse_args()
        workdir = Path(tempfile.mkdtemp(prefix=f"battery-{name}-"))
        tally = Tally(name, args.long, workdir)
        os.chdir(workdir)  # the services inherit it: no stray .env of the caller's directory is read
        started = time.monotonic()
        code = 0
        try:
            asyncio.run(body(tally))
            if "leaked_secrets" in tally.counters:  # T14's mark holds in every test that scanned its logs
                tally.mark("0 planted secrets in the logs", tally.get("leaked_secrets") == 0)
        except MissingFeature as exc:
            tally.mark(f"feature present: {exc}", False, "MISSING FEATURE")
            code = 2
        except Exception as exc:
            traceback.print_exc()
            tally.mark(f"test ran to the end ({type(exc).__name__}: {str(exc)[:300]})", False)
            code = 2
        tally.report(time.monotonic() - started)
        if args.keep or not tally.passed:
            print(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        sys.exit(code or (0 if tally.passed else 1))

    return main


def service_env(**extra: str) -> dict[str, str]:
    """Defaults for the battery: one universal agent (one model call per turn), fast mock tokens."""
    env = {"AGENT_RUNTIME__MULTI_AGENT_MODE": "false", "LLM_PROXY__MOCK_TOKEN_DELAY_MS": "2"}
    env.update(extra)
    return env


@contextlib.contextmanager
def running_system(tally: Tally, extra_env: dict[str, str] | None = None, tag: str = "sys") -> Iterator[System]:
    """The three services (tests/e2e/system.py) at DEBUG with the planted key; logs stay in the work directory."""
    workdir = tally.workdir / tag
    workdir.mkdir(parents=True, exist_ok=True)
    system = start_system(workdir, PLANTED_KEY, service_env(**(extra_env or {})))
    try:
        yield system
    finally:
        system.stop()


def scan_logs(tally: Tally, text: str, secrets_: list[str] | None = None) -> None:
    """Count tracebacks and planted secrets in ``text`` (logs of the services)."""
    tally.add("tracebacks_in_logs", len(TRACEBACK.findall(text)))
    for secret in [PLANTED_KEY, *(secrets_ or [])]:
        tally.add("leaked_secrets", text.count(secret))


def first_traceback(text: str, lines: int = 25) -> str:
    index = text.find("Traceback (most recent call last)")
    return "" if index < 0 else "\n".join(text[index:].splitlines()[:lines])


async def spawn_json_process(*argv: str, cwd: Path | None = None) -> tuple[asyncio.subprocess.Process, dict[str, Any]]:
    """Start a helper (fake LLM, chaos relay) that prints one JSON line once it listens."""
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, cwd=cwd, start_new_session=True
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 20)
    if not line:
        raise RuntimeError(f"{argv[1]} exited before listening")
    return process, json.loads(line)


async def stop_process(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            process.kill()
            await process.wait()


class Socket:
    """One client WebSocket to the gateway, JSON frames in and out."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.received: list[dict[str, Any]] = []

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def send_text(self, text: str) -> None:
        await self.ws.send(text)

    async def recv(self, timeout: float = 15.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            frame: dict[str, Any] = json.loads(await self.ws.recv())
        self.received.append(frame)
        return frame

    async def until(self, done: Callable[[dict[str, Any]], bool], timeout: float = 20.0) -> list[dict[str, Any]]:
        frames: list[dict[str, Any]] = []
        async with asyncio.timeout(timeout):
            while not frames or not done(frames[-1]):
                frames.append(await self.recv(timeout))
        return frames

    async def quiet(self, seconds: float) -> list[dict[str, Any]]:
        extra: list[dict[str, Any]] = []
        with contextlib.suppress(TimeoutError):
            while True:
                extra.append(await self.recv(seconds))
        return extra

    async def abort(self) -> None:
        """A hard disconnect: the TCP connection goes away without a close handshake."""
        transport = self.ws.transport
        if transport is not None:
            transport.abort()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.wait_closed(), 2)


@contextlib.asynccontextmanager
async def connect(url: str, **kwargs: Any) -> AsyncIterator[Socket]:
    async with websockets.connect(url, max_size=None, open_timeout=10, **kwargs) as ws:
        yield Socket(ws)


def is_done(frame: dict[str, Any]) -> bool:
    return frame.get("type") == "done"


def env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0", "false")
