"""The real Claude Code (``claude -p``) and Codex (``codex exec``) CLIs against a real llm-proxy on the mock model,
configured as doc/clients.md says: each prints the mock's answer, and runs one real tool round through the proxy."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.npm_clis import ensure_clis
from tests.e2e.system import Service, free_port

KEY = "real-clis-test-key-0123456789"
CLI_TIMEOUT_S = 120
FILE_TEXT = "the-planted-file-contents-7319"
# Both CLIs ask for more than the built-in mock's 32k window (doc/clients.md, "The context window matters").
MODELS_FILE = """\
models:
  coder: {provider: mock, upstream_model: mock, context_window: 200000}
  coder-fast: {provider: mock, upstream_model: mock, context_window: 200000}
"""


@pytest.fixture(scope="module")
def cli_bin() -> Path:
    return ensure_clis()


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    workdir = Path(tmp_path_factory.mktemp("real-clis-proxy"))
    (workdir / "models.yaml").write_text(MODELS_FILE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_PROXY__")}
    port = free_port()
    env |= {
        "LLM_PROXY__PORT": str(port),
        "LLM_PROXY__INTERNAL_API_KEY": KEY,
        "LLM_PROXY__MODELS_FILE": str(workdir / "models.yaml"),
        "LLM_PROXY__MOCK_TOKEN_DELAY_MS": "0",
        "LLM_PROXY__MAX_RETRIES": "0",
    }
    service = Service("llm-proxy", "llm_proxy", port, workdir / "llm-proxy.log", env)
    service.start()
    try:
        service.wait_healthy()
        yield service
    finally:
        service.stop()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A working directory with one file for the CLIs' tools to read."""
    cwd = tmp_path / "project"
    cwd.mkdir()
    (cwd / "notes.txt").write_text(FILE_TEXT + "\n")
    return cwd


def run_cli(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a CLI with only the given environment (plus PATH, for node), no stdin, bounded in time."""
    result = subprocess.run(
        argv,
        cwd=cwd,
        env={"PATH": os.environ["PATH"], **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
    )
    assert result.returncode == 0, f"{argv[0]} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def claude_env(proxy: Service, home: Path) -> dict[str, str]:
    return {
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": proxy.url,
        "ANTHROPIC_AUTH_TOKEN": KEY,
        "ANTHROPIC_MODEL": "coder",
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": "coder-fast",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
    }


def codex_env(proxy: Service, home: Path) -> dict[str, str]:
    codex_home = home / ".codex"
    codex_home.mkdir(parents=True)
    (codex_home / "config.toml").write_text(
        f"""\
model = "coder"
model_provider = "codelab"
web_search = "disabled"

[model_providers.codelab]
name = "CodeLab llm-proxy"
base_url = "{proxy.url}/v1"
env_key = "CODELAB_PROXY_KEY"
wire_api = "responses"
"""
    )
    return {"HOME": str(home), "CODEX_HOME": str(codex_home), "CODELAB_PROXY_KEY": KEY}


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_claude_code_prints_the_answer(cli_bin: Path, proxy: Service, project: Path, tmp_path: Path) -> None:
    result = run_cli(
        [str(cli_bin / "claude"), "-p", "hello [[text:the proxy answered Claude Code]]"],
        project,
        claude_env(proxy, tmp_path / "home"),
    )
    assert result.stdout.strip() == "the proxy answered Claude Code"


def test_claude_code_runs_its_read_tool_through_the_proxy(
    cli_bin: Path, proxy: Service, project: Path, tmp_path: Path
) -> None:
    prompt = f"read it [[tool:Read {json.dumps({'file_path': str(project / 'notes.txt')})}]] [[2:text:file read]]"
    result = run_cli(
        [str(cli_bin / "claude"), "-p", prompt, "--output-format", "stream-json", "--verbose"],
        project,
        claude_env(proxy, tmp_path / "home"),
    )
    events = json_lines(result.stdout)
    tool_results = [
        block
        for event in events
        if event.get("type") == "user"
        for block in event["message"]["content"]
        if block.get("type") == "tool_result"
    ]
    assert len(tool_results) == 1, result.stdout
    assert FILE_TEXT in str(tool_results[0]["content"]), tool_results
    assert events[-1]["type"] == "result", events[-1]
    assert events[-1]["result"] == "file read", events[-1]


def test_codex_prints_the_answer(cli_bin: Path, proxy: Service, project: Path, tmp_path: Path) -> None:
    result = run_cli(
        [str(cli_bin / "codex"), "exec", "--skip-git-repo-check", "hello [[text:the proxy answered Codex]]"],
        project,
        codex_env(proxy, tmp_path / "home"),
    )
    assert result.stdout.strip() == "the proxy answered Codex"


def test_codex_runs_its_shell_tool_through_the_proxy(
    cli_bin: Path, proxy: Service, project: Path, tmp_path: Path
) -> None:
    prompt = 'run it [[tool:exec_command {"cmd": "cat notes.txt"}]] [[2:text:command ran]]'
    result = run_cli(
        [str(cli_bin / "codex"), "exec", "--json", "--skip-git-repo-check", prompt],
        project,
        codex_env(proxy, tmp_path / "home"),
    )
    items = [event["item"] for event in json_lines(result.stdout) if event.get("type") == "item.completed"]
    commands = [item for item in items if item["type"] == "command_execution"]
    assert len(commands) == 1, result.stdout
    assert FILE_TEXT in commands[0]["aggregated_output"], commands
    assert items[-1] == {**items[-1], "type": "agent_message", "text": "command ran"}, result.stdout
