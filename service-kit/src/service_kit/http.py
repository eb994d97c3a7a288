"""The outbound HTTP side: the aiohttp session for calls to the outside (model providers, JWKS), and the headers and
error envelope of every internal call (the internal hops themselves use ``stream_client``).

aiohttp rather than plain httpx: httpx measured 4-6x the CPU per event here and collapsed when 200 streams opened at
once (see doc/adr/0003-http-client.md).
"""

from __future__ import annotations

import aiohttp
import orjson
import structlog

from service_kit.middleware import REQUEST_ID_HEADER


def new_http_session(*, connect_timeout: float = 5.0, limit_per_host: int = 0) -> aiohttp.ClientSession:
    """A keep-alive client session. Per-request read timeouts are set by the caller; there is no total timeout
    because a stream may legitimately last minutes."""
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=limit_per_host, keepalive_timeout=60, ttl_dns_cache=300)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=None, connect=connect_timeout),
        json_serialize=lambda obj: orjson.dumps(obj).decode(),
        raise_for_status=False,
    )


def internal_headers(key: str, *, accept: str = "application/json") -> dict[str, str]:
    """Headers for a call to another CodeLab service: the key, and the current request id so logs correlate."""
    headers = {"X-Internal-Auth": key, "Content-Type": "application/json", "Accept": accept}
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    if request_id:
        headers[REQUEST_ID_HEADER] = str(request_id)
    return headers


def envelope_message(body: bytes, status: int, peer: str) -> str:
    """The ``error.message`` of a peer's JSON error envelope, or a line naming the peer and the status."""
    try:
        return str(orjson.loads(body)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return f"{peer} answered HTTP {status}"
