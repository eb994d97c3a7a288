import io
import json
import logging

import pytest
import structlog

from service_kit.logs import REDACTED, configure_logging

SECRET = "sk-planted-0123456789abcdef"


@pytest.fixture
def logged() -> io.StringIO:
    stream = io.StringIO()
    configure_logging("test", "DEBUG", [SECRET], stream)
    return stream


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_a_configured_secret_is_masked_wherever_it_appears(logged: io.StringIO) -> None:
    structlog.get_logger("x").info("calling upstream", url=f"http://h/?key={SECRET}", nested={"a": [SECRET]})
    out = lines(logged)[-1]
    assert SECRET not in json.dumps(out)
    assert out["url"] == f"http://h/?key={REDACTED}"


def test_values_under_secret_looking_keys_are_masked(logged: io.StringIO) -> None:
    structlog.get_logger("x").info("headers", authorization="Bearer abc", x_internal_auth="zzz", api_key="k")
    out = lines(logged)[-1]
    assert out["authorization"] == out["x_internal_auth"] == out["api_key"] == REDACTED


def test_standard_library_logs_come_out_as_json_with_the_service(logged: io.StringIO) -> None:
    logging.getLogger("uvicorn.error").info('%s - "WebSocket %s" [accepted]', "127.0.0.1:1", "/ws/s?token=abc")
    out = lines(logged)[-1]
    assert out["service"] == "test"
    assert out["event"] == '127.0.0.1:1 - "WebSocket /ws/s" [accepted]'
