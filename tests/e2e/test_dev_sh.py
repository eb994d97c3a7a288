"""scripts/dev.sh supervises the three services: one that dies is named, its last log lines are shown, it is
restarted and the next turn works; SIGINT (Ctrl-C) stops everything at once; nothing is reinstalled when no
pyproject changed. The real script, the real services, on free loopback ports and a temporary data directory."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import websockets

from tests.e2e.system import free_port

ROOT = Path(__file__).resolve().parents[2]
START_WAIT = 120.0  # three services on a shared, loaded machine
EVENT_WAIT = 60.0


class DevStack:
    """``scripts/dev.sh`` as a process; its output read line by line on a thread."""

    def __init__(self, data: Path) -> None:
        self.ports = {name: free_port() for name in ("LLM_PROXY", "AGENT_RUNTIME", "GATEWAY")}
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY__", "AGENT_RUNTIME__", "LLM_PROXY__"))}
        # The ports alone: dev.sh points each service at the next one's port.
        env.update({f"{name}__PORT": str(port) for name, port in self.ports.items()})
        env.update(
            {
                "CODELAB_DATA_DIR": str(data),
                "CODELAB_VENV": sys.prefix,  # the environment running these tests, already installed
                "LLM_PROXY__MOCK_TOKEN_DELAY_MS": "2",
            }
        )
        self.process = subprocess.Popen(
            ["bash", str(ROOT / "scripts" / "dev.sh")],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # the test can always end the whole group
            # Ctrl-C as a person sends it, even when these tests run as a background job (SIGINT ignored there, and
            # bash cannot trap a signal ignored when it started).
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float = EVENT_WAIT) -> re.Match[str]:
        """The first line from now on matching ``pattern``; fails with the output so far after ``timeout``."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                pytest.fail(f"dev.sh ended before {pattern!r}:\n" + "\n".join(self.lines[-60:]))
            self.lines.append(line)
            if found := re.search(pattern, line):
                return found
        pytest.fail(f"no {pattern!r} within {timeout} s:\n" + "\n".join(self.lines[-60:]))

    def kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[DevStack]:
    running = DevStack(tmp_path / "data")
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.kill_group()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def one_turn(gateway_port: int, content: str) -> list[dict[str, object]]:
    frames: list[dict[str, object]] = []
    async with websockets.connect(f"ws://127.0.0.1:{gateway_port}/api/v1/ws/new_dev_sh?protocol=2") as ws:
        await ws.send(json.dumps({"type": "user_message", "content": content}))
        async with asyncio.timeout(EVENT_WAIT):
            while not frames or frames[-1]["type"] != "done":
                frames.append(json.loads(await ws.recv()))
    return frames


async def test_a_killed_proxy_is_named_shown_and_restarted_and_ctrl_c_stops_everything(stack: DevStack) -> None:
    pids = {}
    for name in ("llm-proxy", "agent-runtime", "gateway"):
        pids[name] = int(stack.wait_for(rf"^==> {name} started \(pid (\d+)\)", START_WAIT)[1])
    stack.wait_for(r"CodeLab AI Service is up", START_WAIT)

    os.kill(pids["llm-proxy"], signal.SIGKILL)
    stack.wait_for(r"^==> llm-proxy exited \(status 137, killed by SIGKILL\); its last log lines:")
    shown = stack.wait_for(r"^==> restarting llm-proxy in (\d+) s")
    tail = stack.lines[stack.lines.index(shown.string) - 15 : stack.lines.index(shown.string)]
    assert any("Uvicorn running on" in line and line.startswith("    ") for line in tail), tail
    restarted = int(stack.wait_for(r"^==> llm-proxy started \(pid (\d+)\)")[1])
    assert restarted != pids["llm-proxy"]
    stack.wait_for(r"^==> llm-proxy is healthy again")
    assert alive(pids["agent-runtime"])
    assert alive(pids["gateway"])

    frames = await one_turn(stack.ports["GATEWAY"], "the next turn works")
    assert frames[-1]["stop_reason"] == "completed"
    finals = [f["content"] for f in frames if f["type"] == "assistant_message" and f.get("is_final")]
    assert finals == ["the next turn works"]

    stack.process.send_signal(signal.SIGINT)
    assert stack.process.wait(EVENT_WAIT) == 0
    deadline = time.monotonic() + 15
    while any(alive(pid) for pid in (restarted, pids["agent-runtime"], pids["gateway"])):
        assert time.monotonic() < deadline, "a service outlived dev.sh"
        time.sleep(0.1)


def test_nothing_is_reinstalled_when_nothing_changed() -> None:
    environment = {**os.environ, "CODELAB_VENV": sys.prefix}
    ensure = ["bash", "-c", "source scripts/lib/venv.sh && ensure_venv"]
    subprocess.run(ensure, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=600, check=True)

    again = subprocess.run(ensure, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60, check=True)

    assert again.stdout + again.stderr == ""  # what dev.sh runs first: silent, nothing installed


def test_a_port_already_answering_is_named_before_anything_starts(tmp_path: Path) -> None:
    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    environment = {**os.environ, "CODELAB_VENV": sys.prefix, "CODELAB_DATA_DIR": str(tmp_path)}
    environment["LLM_PROXY__PORT"] = str(server.server_address[1])
    try:
        done = subprocess.run(
            ["bash", str(ROOT / "scripts" / "dev.sh")],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        server.shutdown()
        server.server_close()

    assert done.returncode == 1
    assert f"something already answers at http://127.0.0.1:{server.server_address[1]}/health" in done.stderr
    assert "LLM_PROXY__PORT=<free port> scripts/dev.sh" in done.stderr
    assert "started" not in done.stdout  # nothing was started
