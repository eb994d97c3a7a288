import io
import json
import logging
import re

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


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_writes_json_when_the_stream_is_not_a_terminal() -> None:
    stream = io.StringIO()
    configure_logging("test", "DEBUG", [SECRET], stream, log_format="auto")
    structlog.get_logger("x").info("plain", n=1)
    assert lines(stream)[-1]["n"] == 1


@pytest.mark.parametrize("log_format", ["auto", "console"])
def test_a_person_at_a_terminal_gets_one_compact_coloured_line_per_event(
    log_format: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    stream = _Terminal()
    configure_logging("test", "DEBUG", [SECRET], stream, log_format=log_format)  # type: ignore[arg-type]
    structlog.get_logger("x").warning("upstream slow", model="mock", key=SECRET)
    [line] = stream.getvalue().splitlines()
    assert not line.startswith("{")
    assert "\x1b[" in line  # coloured
    plain = re.sub(r"\x1b\[[0-9;]*m", "", line)
    assert re.match(r"\d\d:\d\d:\d\d\.\d{3} \[warning\s*\] upstream slow", plain), plain
    assert "model=mock" in plain
    assert "service=" not in plain  # the window or dev.sh's prefix names the service
    assert SECRET not in line
    assert REDACTED in plain


def test_no_color_keeps_the_console_line_plain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    stream = io.StringIO()
    configure_logging("test", "DEBUG", [], stream, log_format="console")
    try:
        raise ValueError("boom")
    except ValueError:
        structlog.get_logger("x").exception("failed")
    text = stream.getvalue()
    assert "\x1b[" not in text
    assert text.splitlines()[0].endswith("failed") or "failed" in text.splitlines()[0]
    assert "ValueError: boom" in text
