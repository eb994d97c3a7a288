"""The request-head and body limits of every service, as real processes over raw sockets: a 100 MB header and a
300 MB chunked body are each cut at the limit, fast and with bounded memory, and answered in the JSON envelope.

Figures (bytes sent before the answer, seconds, the process's RSS growth) are printed (``-s`` shows them)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import orjson
import pytest

from tests.e2e.system import Service, System

# (service, a POST route it serves, the headers that pass its authentication)
ROUTES = [
    ("gateway", "/api/v1/sessions", ""),
    ("agent-runtime", "/sessions", "X-Internal-Auth: {key}\r\n"),
    ("llm-proxy", "/v1/chat/completions", "X-Internal-Auth: {key}\r\n"),
]
HUGE = 300 * 1024 * 1024


def rss_bytes(service: Service) -> int:
    assert service.process is not None
    for line in Path(f"/proc/{service.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def send_until_answered(service: Service, head: bytes, piece: bytes) -> tuple[bytes, int, float]:
    """Send ``head``, then ``piece`` again and again (up to 300 MB) while reading, as a client on a network does,
    until the service answers or closes; returns the answer, the bytes sent after ``head`` and the seconds taken."""
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", service.port)
    writer.write(head)
    answered = asyncio.create_task(reader.read())  # until the service closes
    sent = 0
    with contextlib.suppress(ConnectionError):
        while sent < HUGE and not answered.done():
            writer.write(piece)
            await writer.drain()
            sent += len(piece)
            await asyncio.sleep(0.001)
    answer = await asyncio.wait_for(answered, 30)
    writer.close()
    return answer, sent, time.perf_counter() - started


def status_and_error(answer: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), orjson.loads(body)["error"]


@pytest.mark.parametrize(("service", "path", "auth"), ROUTES)
async def test_a_100_mb_header_is_refused_with_431_before_any_work(
    system: System, service: str, path: str, auth: str
) -> None:
    target = system.services[service]
    before = rss_bytes(target)
    head = f"POST {path} HTTP/1.1\r\nHost: t\r\n{auth.format(key=system.key)}Authorization: Bearer ".encode()
    answer, sent, seconds = await send_until_answered(target, head, b"a" * 65536)
    grown = rss_bytes(target) - before
    print(f"\n{service}: 431 after {sent} header bytes, {seconds:.3f} s, RSS +{grown / 1e6:.1f} MB")
    status, error = status_and_error(answer)
    assert (status, error["code"]) == (431, "request_headers_too_large")
    assert sent < 2 * 1024 * 1024
    assert grown < 20 * 1024 * 1024


@pytest.mark.parametrize(("service", "path", "auth"), ROUTES)
async def test_a_300_mb_chunked_body_is_cut_at_the_limit(system: System, service: str, path: str, auth: str) -> None:
    target = system.services[service]
    before = rss_bytes(target)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: t\r\n{auth.format(key=system.key)}Content-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    answer, sent, seconds = await send_until_answered(target, head, b"10000\r\n" + b" " * 65536 + b"\r\n")
    grown = rss_bytes(target) - before
    print(f"\n{service}: 413 after {sent} body bytes, {seconds:.3f} s, RSS +{grown / 1e6:.1f} MB")
    status, error = status_and_error(answer)
    assert status == 413
    assert "exceeds" in str(error["message"])
    assert sent < 24 * 1024 * 1024  # the largest limit (16 MiB) and what was in flight
    assert grown < 64 * 1024 * 1024
