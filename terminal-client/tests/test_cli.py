"""The console script as a real process against the fake gateway: output, exit codes, ``--json``, ``-m -``."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest

from codelab_chat.app import ChatOptions, known_agent
from codelab_chat.cli import main
from fake_gateway import FakeGateway, FakeSession, Frame
from harness import CapturedConsole

REPLY = "Done: the answer is 42."


async def answer(session: FakeSession, frame: Frame) -> None:
    if frame["type"] == "user_message" and frame["content"].startswith("fail"):
        await session.emit("error", content="provider down", error="provider down")
        await session.done("error")
        return
    await session.say(REPLY)
    await session.done()


async def codelab_chat(*arguments: str, stdin: bytes = b"") -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "codelab_chat",
        *arguments,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(stdin), 60)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_one_shot_mode_prints_the_reply_and_exits_zero(workspace: Path) -> None:
    async with FakeGateway(answer) as gateway:
        code, stdout, stderr = await codelab_chat("-m", "question", "--url", gateway.url, "--workspace", str(workspace))

    assert (code, stdout) == (0, REPLY + "\n"), stderr
    assert "completed" in stderr


async def test_an_error_frame_makes_the_exit_code_non_zero(workspace: Path) -> None:
    async with FakeGateway(answer) as gateway:
        code, _stdout, stderr = await codelab_chat(
            "-m", "fail please", "--url", gateway.url, "--workspace", str(workspace)
        )

    assert code == 1
    assert "provider down" in stderr


async def test_json_mode_writes_only_json_lines_to_stdout(workspace: Path) -> None:
    async with FakeGateway(answer) as gateway:
        code, stdout, _stderr = await codelab_chat(
            "-m", "-", "--json", "--url", gateway.url, "--workspace", str(workspace), stdin=b"from stdin"
        )

    frames = [orjson.loads(line) for line in stdout.splitlines()]
    assert code == 0
    assert frames[-1]["type"] == "done"
    assert gateway.received_of("user_message")[0]["content"] == "from stdin"


async def test_an_unreachable_gateway_exits_one_with_a_message(workspace: Path) -> None:
    async with FakeGateway(answer) as gateway:
        url = gateway.url
    code, _stdout, stderr = await codelab_chat("-m", "hi", "--url", url, "--workspace", str(workspace))

    assert code == 1
    assert "cannot reach the gateway" in stderr
    assert "scripts/dev.sh starts it" in " ".join(stderr.split())  # a hint on a loopback URL


def test_bad_usage_exits_two(tmp_path: Path) -> None:
    assert main(["-m", "hi", "--workspace", str(tmp_path / "missing")]) == 2
    assert main(["-m", "   "]) == 2
    assert main(["-m", "x" * 1_000_000, "--workspace", str(tmp_path)]) == 2


async def test_interactive_mode_reads_lines_until_end_of_input(workspace: Path) -> None:
    async with FakeGateway(answer) as gateway:
        code, stdout, stderr = await codelab_chat(
            "--url", gateway.url, "--workspace", str(workspace), stdin=b"first\n\n/session\nsecond\n"
        )

    assert code == 0, stderr
    assert stdout.count(REPLY) == 2
    assert "s1" in stdout
    assert [f["content"] for f in gateway.received_of("user_message")] == ["first", "second"]


async def test_interactive_mode_exits_one_when_the_connection_is_refused(workspace: Path) -> None:
    async with FakeGateway(answer, require_token="t") as gateway:
        code, stdout, _stderr = await codelab_chat("--url", gateway.url, "--workspace", str(workspace), stdin=b"hi\n")

    assert code == 1
    assert "HTTP 401" in stdout


def test_sessions_subcommand_fails_cleanly_when_the_gateway_is_down(capsys: pytest.CaptureFixture[str]) -> None:
    # Nothing listens on port 9 (discard): the command must fail cleanly with exit 1.
    assert main(["sessions", "--url", "ws://127.0.0.1:9"]) == 1
    assert "cannot reach http://127.0.0.1:9/api/v1" in capsys.readouterr().err


class SessionsHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        long_id = "0123456789abcdef0123456789abcdef"
        body: dict[str, object] = {}
        status = 200
        if self.path == "/api/v1/sessions":
            body = {"sessions": [{"id": long_id, "title": "t", "current_agent": "coder", "message_count": 4}]}
        elif self.path == "/api/v1/agents":
            body = {"agents": [{"id": "coder", "name": "Coder"}, {"id": "ask", "name": "Ask"}], "count": 2}
        elif self.path == "/api/v1/sessions/missing":
            status, body = 404, {"error": {"message": "session not found", "code": "not_found"}}
        payload = orjson.dumps(body)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def rest_gateway() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), SessionsHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"ws://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_sessions_subcommand_lists_ids_in_full(rest_gateway: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sessions", "--url", rest_gateway]) == 0
    assert "0123456789abcdef0123456789abcdef" in capsys.readouterr().out

    assert main(["sessions", "--url", rest_gateway, "--json"]) == 0
    assert orjson.loads(capsys.readouterr().out)["message_count"] == 4


async def gated(session: FakeSession, frame: Frame) -> None:
    if frame["type"] == "user_message":
        arguments = {"path": f"{frame['content']}.txt", "content": "x"}
        await session.emit(
            "tool_call", call_id=frame["content"], tool_name="write_file", arguments=arguments, requires_approval=True
        )
        await session.done("approval")
    elif frame["type"] == "hitl_decision" and frame["decision"] == "reject":
        await session.say(f"Not writing: {frame.get('feedback')}")
        await session.done()
    elif frame["type"] == "hitl_decision":
        await session.done("tool_call")
    else:
        await session.say("Written.")
        await session.done()


async def test_interactive_mode_asks_before_gated_calls(workspace: Path) -> None:
    answers = b"first\na\nsecond\nr\nnot now\n"
    async with FakeGateway(gated) as gateway:
        code, stdout, stderr = await codelab_chat("--url", gateway.url, "--workspace", str(workspace), stdin=answers)

    assert code == 0, stderr
    assert "Approval needed" in stdout
    assert (workspace / "first.txt").exists()
    assert not (workspace / "second.txt").exists()
    assert "Not writing: not now" in stdout
    assert [f["decision"] for f in gateway.received_of("hitl_decision")] == ["approve", "reject"]


def test_an_unknown_session_is_named_and_the_sessions_are_offered(
    rest_gateway: str, workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--session", "missing", "--url", rest_gateway, "--workspace", str(workspace)]) == 2
    err = capsys.readouterr().err
    assert "there is no session 'missing'" in err
    assert "0123456789abcdef0123456789abcdef" in err  # the list to pick from, ids in full


async def test_agent_names_are_checked_before_switching(rest_gateway: str) -> None:
    screen = CapturedConsole()
    options = ChatOptions(url=rest_gateway)

    assert await known_agent(screen.console, options, "coder")
    assert not await known_agent(screen.console, options, "coderr")
    assert not await known_agent(screen.console, options, "")
    assert screen.text.splitlines() == [
        "unknown agent 'coderr'. Agents: coder, ask",
        "Agents: coder, ask — /agent NAME switches",
    ]


def test_an_unknown_agent_flag_is_refused_with_the_list(
    rest_gateway: str, workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--agent", "archtect", "-m", "hi", "--url", rest_gateway, "--workspace", str(workspace)]) == 2
    assert "unknown agent 'archtect'. Agents: coder, ask" in capsys.readouterr().err
