"""Start the fake LLM, the three services and (optionally) LiteLLM as processes on free loopback ports.

Each service runs as ``.venv/bin/python -m <package>`` in its own temporary working directory (so no stray
``.env`` is read), configured only through environment variables. ``--pin`` style CPU pinning is a ``taskset``
prefix chosen by the caller.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from stats import free_port

ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(ROOT / ".venv" / "bin" / "python")
BENCH = Path(__file__).resolve().parent
LITELLM_VENV = Path("/tmp/litellm-venv")
POSTGRES_URL = os.environ.get("CODELAB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@dataclass
class Proc:
    name: str
    process: subprocess.Popen[bytes]
    port: int

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Cluster:
    """The processes of one benchmark run; ``stop`` ends exactly the ones it started."""

    key: str = "bench-internal-key-0123456789"
    proxy_model: str = "openai/fake-model"
    service_cpus: str = ""
    tool_cpus: str = ""
    src_root: Path | None = None
    litellm_key: str = field(default_factory=lambda: "sk-" + secrets.token_hex(32))
    log_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="codelab-bench-")))
    procs: dict[str, Proc] = field(default_factory=dict)

    def _prefix(self, cpus: str) -> list[str]:
        return ["taskset", "-c", cpus] if cpus and shutil.which("taskset") else []

    def _spawn(
        self, name: str, argv: list[str], env: dict[str, str], cpus: str, unset: tuple[str, ...] = ()
    ) -> subprocess.Popen[bytes]:
        workdir = self.log_dir / name
        workdir.mkdir(parents=True, exist_ok=True)
        log = open(workdir / "stderr.log", "wb")  # noqa: SIM115 - the child owns it for its lifetime
        return subprocess.Popen(
            self._prefix(cpus) + argv,
            cwd=workdir,
            env={k: v for k, v in {**os.environ, **env}.items() if k not in unset},
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
        )

    def start_fake(self, *extra: str) -> Proc:
        process = self._spawn("fake", [PYTHON, str(BENCH / "fake_llm.py"), "--port", "0", *extra], {}, self.tool_cpus)
        assert process.stdout is not None
        port = json.loads(process.stdout.readline())["port"]
        self.procs["fake"] = Proc("fake", process, port)
        return self.procs["fake"]

    def start_relay(self) -> Proc:
        """A pass-through chaos relay in front of the fake: one asyncio streams hop (F, `start_floor`, is the floor)."""
        target = f"127.0.0.1:{self.procs['fake'].port}"
        process = self._spawn("relay", [PYTHON, str(BENCH / "chaos_relay.py"), "--target", target], {}, self.tool_cpus)
        assert process.stdout is not None
        port = json.loads(process.stdout.readline())["port"]
        self.procs["relay"] = Proc("relay", process, port)
        return self.procs["relay"]

    def start_floor(self, hops: int = 3) -> Proc:
        """``hops`` bare relays chained in front of the fake, numbered from the client: ``floor1`` (returned) is the
        one the client connects to, ``floor<hops>`` the one next to the fake. They stand in for the services, so
        they run on the services' CPUs: the floor of ``hops`` Python hops on this machine."""
        port = self.procs["fake"].port
        for number in range(hops, 0, -1):
            name = f"floor{number}"
            argv = [PYTHON, str(BENCH / "bare_relay.py"), "--target", f"127.0.0.1:{port}"]
            process = self._spawn(name, argv, {}, self.service_cpus)
            assert process.stdout is not None
            port = json.loads(process.stdout.readline())["port"]
            self.procs[name] = Proc(name, process, port)
        return self.procs["floor1"]

    def _service(self, name: str, module: str, prefix: str, env: dict[str, str]) -> Proc:
        port = free_port()
        base = {
            f"{prefix}HOST": "127.0.0.1",
            f"{prefix}PORT": str(port),
            f"{prefix}INTERNAL_API_KEY": self.key,
            f"{prefix}LOG_LEVEL": "WARNING",
        }
        if self.src_root is not None:
            # a snapshot of the packages (e.g. ``git archive HEAD``) shadows the editable installs
            dirs = ("service-kit", "llm-proxy", "agent-runtime", "gateway")
            base["PYTHONPATH"] = os.pathsep.join(str(self.src_root / d / "src") for d in dirs)
        process = self._spawn(name, [PYTHON, "-m", module], {**base, **env}, self.service_cpus)
        self.procs[name] = Proc(name, process, port)
        return self.procs[name]

    def start_chain(self, mock: bool = False, mock_delay_ms: float = 20.0) -> None:
        """llm-proxy → the fake (or its mock model), agent-runtime → proxy, gateway → runtime; waits for health."""
        fake = self.procs["fake"]
        model = "mock" if mock else self.proxy_model
        proxy = self._service(
            "llm-proxy",
            "llm_proxy",
            "LLM_PROXY__",
            {
                "LLM_PROXY__OPENAI_BASE_URL": f"{fake.url}/v1",
                "LLM_PROXY__OPENAI_API_KEY": "sk-fake-benchmark-key",
                "LLM_PROXY__DEFAULT_MODEL": model,
                "LLM_PROXY__MOCK_TOKEN_DELAY_MS": str(mock_delay_ms),
            },
        )
        runtime = self._service(
            "agent-runtime",
            "agent_runtime",
            "AGENT_RUNTIME__",
            {
                "AGENT_RUNTIME__LLM_PROXY_URL": proxy.url,
                "AGENT_RUNTIME__LLM_MODEL": model,
                "AGENT_RUNTIME__DATA_DIR": str(self.log_dir / "agent-runtime" / "data"),
                "AGENT_RUNTIME__MULTI_AGENT_MODE": "false",
            },
        )
        self._service("gateway", "gateway", "GATEWAY__", {"GATEWAY__AGENT_URL": runtime.url})
        for name in ("llm-proxy", "agent-runtime", "gateway"):
            self.wait_healthy(name, "/health", 60)

    def start_litellm(self, model: str = "fake-model", provider: str = "openai") -> Proc | None:
        """LiteLLM's proxy, one worker, offline, on the same fake; None when its virtualenv is missing. ``provider``
        is LiteLLM's provider prefix for the fake (``custom_openai``: an OpenAI-compatible server, so LiteLLM translates
        its Messages and Responses endpoints to chat completions, as the llm-proxy does; with ``openai`` it would call
        the fake's ``/v1/responses``, which does not exist)."""
        binary = LITELLM_VENV / "bin" / "litellm"
        if not binary.exists():
            return None
        fake = self.procs["fake"]
        config = self.log_dir / "litellm.yaml"
        config.write_text(
            "model_list:\n"
            f"  - model_name: {model}\n"
            "    litellm_params:\n"
            f"      model: {provider}/{model}\n"
            f"      api_base: {fake.url}/v1\n"
            "      api_key: sk-fake-benchmark-key\n"
            "litellm_settings:\n"
            "  telemetry: false\n"
        )
        port = free_port()
        env = {
            "LITELLM_OFFLINE_MODE": "true",
            "LITELLM_LOG": "ERROR",
            "NO_DOCS": "true",
            "LITELLM_MASTER_KEY": self.litellm_key,
        }
        argv = [str(binary), "--config", str(config), "--port", str(port), "--host", "127.0.0.1", "--num_workers", "1"]
        process = self._spawn("litellm", argv, env, self.service_cpus, unset=("DATABASE_URL",))
        self.procs["litellm"] = Proc("litellm", process, port)
        return self.procs["litellm"]

    def wait_healthy(self, name: str, path: str, timeout: float) -> bool:
        proc = self.procs[name]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.process.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.process.returncode}; see {self.log_dir / name}")
            with contextlib.suppress(OSError), urllib.request.urlopen(proc.url + path, timeout=2) as response:
                if response.status < 300:
                    return True
            time.sleep(0.2)
        return False

    def stop_one(self, name: str) -> None:
        proc = self.procs.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        proc.process.wait(timeout=10)

    def stop(self) -> None:
        for proc in reversed(list(self.procs.values())):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 15)
        for proc in self.procs.values():
            try:
                proc.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, 9)
        self.procs.clear()


def load_client(args: list[str], cpus: str = "") -> subprocess.Popen[bytes]:
    """Start ``load_client.py`` with ``args`` as its own process (optionally pinned)."""
    prefix = ["taskset", "-c", cpus] if cpus and shutil.which("taskset") else []
    return subprocess.Popen([*prefix, PYTHON, str(BENCH / "load_client.py"), *args], stdout=subprocess.PIPE)


def machine() -> str:
    """One line naming the machine: CPUs, model, Python."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    system = f"{os.uname().sysname} {os.uname().release}"
    return f"{os.cpu_count()} CPUs ({model}), Python {sys.version.split()[0]}, {system}"


async def create_database(prefix: str) -> tuple[str, str]:
    """A new PostgreSQL database for one bench run: its name and its URL (``drop_database`` afterwards)."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(POSTGRES_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return name, f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}"


async def drop_database(name: str) -> None:
    admin = await asyncpg.connect(POSTGRES_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
