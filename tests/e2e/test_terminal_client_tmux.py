"""codelab-chat as a person uses it: interactive, in a real terminal (tmux), against the three real services, across
a restart of the agent runtime and of the gateway. It never leaves by itself, nothing typed is lost (a message sent
while the runtime is down goes out when it is back; lines typed while a turn runs are read next; a message whose
wait Ctrl-C stopped is given back and ↑ recalls it), and it resumes the session after the gateway comes back."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import PLANTED_KEY
from tests.e2e.system import System, start_system

SCREEN_WAIT = 90.0  # a loaded machine; every wait is bounded

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Terminal:
    """One tmux session on a private server socket, running a command in a 200x50 pane."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.socket = f"codelab-test-{os.getpid()}-{time.monotonic_ns()}"
        self.tmux("new-session", "-d", "-s", "chat", "-x", "200", "-y", "50", *_env_flags(env), *command)
        self.tmux("set-option", "-t", "chat", "remain-on-exit", "on")  # an exit stays visible, with its status
        self.socket_path = Path(self.tmux("display-message", "-p", "#{socket_path}").strip())

    def tmux(self, *arguments: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *arguments], capture_output=True, text=True, timeout=10)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def screen(self) -> str:
        """Everything the pane shows, scroll-back included."""
        return self.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", "chat")

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", "chat", "-l", text)
        self.tmux("send-keys", "-t", "chat", "Enter")

    def exited(self) -> bool:
        return self.tmux("list-panes", "-t", "chat", "-F", "#{pane_dead}").strip() == "1"

    def exit_status(self) -> str | None:
        """How the command ended: its exit status, or ``signal N``; None while it runs. tmux may mark the pane
        dead and leave the process a zombie for a while before it records the status: the zombie's own exit code
        (the last field of /proc/PID/stat) says it then."""
        fields = "#{pane_dead_status}|#{pane_dead_signal}|#{pane_pid}"
        status, signal_number, pid = self.tmux("list-panes", "-t", "chat", "-F", fields).strip().split("|")
        if status or signal_number:
            return status or f"signal {signal_number}"
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] == "Z":
                code = int(stat.split()[-1])
                return f"signal {code & 0x7F}" if code & 0x7F else str(code >> 8)
        return None

    def wait_until(self, ready: Callable[[str], bool], what: str) -> str:
        deadline = time.monotonic() + SCREEN_WAIT
        while time.monotonic() < deadline:
            shown = self.screen()
            if ready(shown):
                return shown
            assert not self.exited(), f"codelab-chat exited while waiting for {what}:\n{shown}"
            time.sleep(0.2)
        pytest.fail(f"not on the screen within {SCREEN_WAIT} s: {what}\n{self.screen()}")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10)
        self.socket_path.unlink(missing_ok=True)  # the server is gone; its socket file need not stay


def _env_flags(env: dict[str, str]) -> list[str]:
    return [flag for name, value in env.items() for flag in ("-e", f"{name}={value}")]


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    (tmp_path / "services").mkdir()
    running = start_system(tmp_path / "services", PLANTED_KEY, {"AGENT_RUNTIME__MULTI_AGENT_MODE": "false"})
    yield running
    running.stop()


@pytest.fixture
def terminal(system: System, tmp_path: Path) -> Iterator[Terminal]:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    url = f"ws://127.0.0.1:{system.gateway.port}"
    command = [sys.executable, "-m", "codelab_chat", "--url", url, "--workspace", str(workspace)]
    # The pane's environment: this one's PATH and Python, a usual terminal, no colours to strip.
    env = {"PATH": os.environ.get("PATH", ""), "TERM": "xterm-256color", "NO_COLOR": "1", "HOME": str(tmp_path)}
    opened = Terminal(command, env)
    yield opened
    opened.close()


def answered(*replies: str) -> Callable[[str], bool]:
    """Each reply on the screen twice: in the line typed (the directive) and as the answer."""
    return lambda screen: all(screen.count(reply) >= 2 for reply in replies)


def history(system: System, session_id: str) -> list[str]:
    with urllib.request.urlopen(f"{system.gateway.url}/api/v1/sessions/{session_id}/history", timeout=10) as answer:
        messages = json.loads(answer.read())["messages"]
    return [m["content"] for m in messages if m.get("role") == "user"]


def test_the_client_rides_out_a_runtime_and_a_gateway_restart_without_losing_what_was_typed(
    system: System, terminal: Terminal
) -> None:
    terminal.wait_until(lambda s: "you>" in s, "the prompt")
    terminal.type("first words [[text:reply-one]]")
    terminal.wait_until(lambda s: answered("reply-one")(s) and s.count("you>") >= 2, "the first reply and a prompt")
    terminal.type("/session")
    session_id = terminal.wait_until(lambda s: s.count("you>") >= 3, "the session id").split("/session")[1].split()[0]

    # The runtime goes away: the message typed now is kept, and so is the line typed while it waits.
    system.runtime.stop()
    terminal.type("second words [[text:reply-two]]")
    terminal.wait_until(lambda s: "kept and sent again when the runtime is back" in s, "the client saying it waits")
    terminal.type("third words [[text:reply-three]]")
    time.sleep(2)  # several attempts fail meanwhile; the client stays
    assert not answered("reply-two")(terminal.screen())
    system.runtime.start()
    system.runtime.wait_healthy(SCREEN_WAIT)
    terminal.wait_until(answered("reply-two", "reply-three"), "both replies after the runtime is back")

    # The gateway goes away: the client says it is reconnecting and waits; the session goes on afterwards.
    system.gateway.stop()
    terminal.type("fourth words [[text:reply-four]]")
    terminal.wait_until(lambda s: "reconnecting" in s or "connection lost" in s, "the client saying it reconnects")
    time.sleep(2)
    system.gateway.start()
    system.gateway.wait_healthy(SCREEN_WAIT)
    terminal.wait_until(answered("reply-four"), "the reply after the gateway is back")

    # Tired of waiting for the runtime, the person presses Ctrl-C: the message is given back, and ↑ brings it.
    system.runtime.stop()
    terminal.type("fifth words [[text:reply-five]]")
    kept = "kept and sent again when the runtime is back"
    terminal.wait_until(lambda s: s.count(kept) >= 2, "the client saying it waits, a second time")
    terminal.tmux("send-keys", "-t", "chat", "C-c")
    terminal.wait_until(lambda s: "not sent (↑ brings it back): fifth words" in s, "the message given back")
    system.runtime.start()
    system.runtime.wait_healthy(SCREEN_WAIT)
    terminal.tmux("send-keys", "-t", "chat", "Up")
    terminal.tmux("send-keys", "-t", "chat", "Enter")
    # typed, given back, recalled, answered
    terminal.wait_until(lambda s: s.count("reply-five") >= 4, "the answer to the recalled message")

    assert not terminal.exited()  # it never left by itself
    typed = [text.split(" [[")[0] for text in history(system, session_id)]
    assert typed == ["first words", "second words", "third words", "fourth words", "fifth words"]

    terminal.type("/quit")
    deadline = time.monotonic() + SCREEN_WAIT
    while (status := terminal.exit_status()) is None:
        assert time.monotonic() < deadline, f"/quit did not end the client:\n{terminal.screen()}"
        time.sleep(0.1)
    assert status == "0"
