"""The three services as real processes on free loopback ports, for end-to-end tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A loopback port nothing listens on, never one this process handed out before: the kernel may give the same
    free port to two quick ``bind(0)`` calls, and two services told the same port would answer for each other."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


@dataclass
class Service:
    name: str
    module: str
    port: int
    log: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module], env=self.env, stdout=out, stderr=subprocess.STDOUT
            )

    def wait_healthy(self, timeout: float = 90.0) -> None:  # a bound: on a loaded machine imports alone take 30 s
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as answer:
                    if json.load(answer).get("service") == self.module.replace("_", "-"):
                        return  # this service, not another process that holds the port
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not become healthy:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class System:
    key: str
    workdir: Path
    services: dict[str, Service] = field(default_factory=dict)

    @property
    def gateway(self) -> Service:
        return self.services["gateway"]

    @property
    def runtime(self) -> Service:
        return self.services["agent-runtime"]

    @property
    def proxy(self) -> Service:
        return self.services["llm-proxy"]

    def ws_url(self, session_id: str, query: str = "") -> str:
        return f"ws://127.0.0.1:{self.gateway.port}/api/v1/ws/{session_id}{query}"

    def logs(self) -> str:
        return "\n".join(s.log.read_text(errors="replace") for s in self.services.values() if s.log.exists())

    def stop(self) -> None:
        for service in reversed(list(self.services.values())):
            service.stop()


REDIS_URL = os.environ.get("CODELAB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_url() -> str:
    """The real Redis for tests that share state between processes; skipped when it does not answer, failed under
    ``CODELAB_REQUIRE_REDIS=1`` (CI)."""
    import pytest
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=10, socket_timeout=10)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        if os.environ.get("CODELAB_REQUIRE_REDIS") == "1":
            pytest.fail(f"Redis unreachable at {REDIS_URL} and CODELAB_REQUIRE_REDIS=1: {exc}")
        pytest.skip(f"Redis unreachable at {REDIS_URL}")
    finally:
        client.close()
    return REDIS_URL


def start_gateway(system: System, name: str, extra_env: dict[str, str]) -> Service:
    """One more gateway process in front of the system's runtime (its own port and log, the given settings)."""
    port = free_port()
    env = {**system.gateway.env, "GATEWAY__PORT": str(port), **extra_env}
    service = Service(name, "gateway", port, system.workdir / f"{name}.log", env)
    system.services[name] = service
    service.start()
    service.wait_healthy()
    return service


def start_runtime(system: System, name: str, extra_env: dict[str, str] | None = None) -> Service:
    """One more agent-runtime process next to the system's (its own port, data directory and log)."""
    port = free_port()
    env = {
        **system.runtime.env,
        "AGENT_RUNTIME__PORT": str(port),
        "AGENT_RUNTIME__DATA_DIR": str(system.workdir / f"{name}-data"),
        **(extra_env or {}),
    }
    service = Service(name, "agent_runtime", port, system.workdir / f"{name}.log", env)
    system.services[name] = service
    service.start()
    service.wait_healthy()
    return service


def start_system(
    workdir: Path, key: str, extra_env: dict[str, str] | None = None, ports: dict[str, int] | None = None
) -> System:
    """Start llm-proxy, agent-runtime and gateway (in that order), each on a free port (or the one ``ports`` names),
    all at DEBUG."""
    ports = {name: free_port() for name in ("llm-proxy", "agent-runtime", "gateway")} | (ports or {})
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY__", "AGENT_RUNTIME__", "LLM_PROXY__"))}
    base.update(
        {
            "LLM_PROXY__PORT": str(ports["llm-proxy"]),
            "LLM_PROXY__INTERNAL_API_KEY": key,
            "LLM_PROXY__MOCK_TOKEN_DELAY_MS": "2",
            "LLM_PROXY__LOG_LEVEL": "DEBUG",
            "AGENT_RUNTIME__PORT": str(ports["agent-runtime"]),
            "AGENT_RUNTIME__INTERNAL_API_KEY": key,
            "AGENT_RUNTIME__LLM_PROXY_URL": f"http://127.0.0.1:{ports['llm-proxy']}",
            "AGENT_RUNTIME__DATA_DIR": str(workdir / "data"),
            "AGENT_RUNTIME__LOG_LEVEL": "DEBUG",
            "GATEWAY__PORT": str(ports["gateway"]),
            "GATEWAY__INTERNAL_API_KEY": key,
            "GATEWAY__AGENT_URL": f"http://127.0.0.1:{ports['agent-runtime']}",
            "GATEWAY__LOG_LEVEL": "DEBUG",
            "GATEWAY__SIGNING_KEY_FILE": str(workdir / "gateway-signing-key.pem"),  # as scripts/dev.sh does
        }
    )
    base.update(extra_env or {})
    system = System(key=key, workdir=workdir)
    modules = {"llm-proxy": "llm_proxy", "agent-runtime": "agent_runtime", "gateway": "gateway"}
    try:
        for name, module in modules.items():
            service = Service(name, module, ports[name], workdir / f"{name}.log", base)
            system.services[name] = service
            service.start()
            service.wait_healthy()
    except BaseException:
        system.stop()
        raise
    return system
