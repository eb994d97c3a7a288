"""Settings: the auth mode must be coherent with the bind address and its own variables."""

from __future__ import annotations

import pytest
from fake_runtime import KEY
from pydantic import ValidationError

from gateway.settings import Settings
from service_kit.settings import ConfigurationError, load_settings


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, internal_api_key=KEY, **values)  # type: ignore[arg-type]


def test_auth_mode_none_is_refused_on_a_public_address_unless_forced() -> None:
    with pytest.raises(ValidationError, match="loopback"):
        settings(host="0.0.0.0")
    assert settings(host="0.0.0.0", auth_none_force=True).auth_mode == "none"
    assert settings(host="::1").auth_mode == "none"
    assert settings(host="localhost").auth_mode == "none"


def test_token_mode_needs_tokens_and_maps_each_to_its_subject() -> None:
    with pytest.raises(ValidationError, match="GATEWAY__AUTH_TOKENS"):
        settings(auth_mode="token")
    configured = settings(auth_mode="token", auth_tokens="alice:tok-a:with-colon, bare-token ,bob:tok-b")
    assert configured.token_table() == {"tok-a:with-colon": "alice", "bare-token": "token-1", "tok-b": "bob"}
    assert {"tok-a:with-colon", "bare-token", "tok-b", KEY} <= set(configured.secrets())


def test_jwt_mode_needs_its_jwks_url_issuer_and_audience() -> None:
    with pytest.raises(ValidationError, match="GATEWAY__JWT_JWKS_URL"):
        settings(auth_mode="jwt", jwt_jwks_url="http://x/jwks")


def test_lists_are_read_comma_separated_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY__INTERNAL_API_KEY", KEY)
    monkeypatch.setenv("GATEWAY__WS_ALLOWED_ORIGINS", "https://a.test, https://b.test")
    monkeypatch.setenv("GATEWAY__JWT_ALGORITHMS", "ES256")
    monkeypatch.setenv("GATEWAY__AGENT_STREAM_TIMEOUT", "42")
    loaded = load_settings(Settings)
    assert loaded.ws_allowed_origins == ["https://a.test", "https://b.test"]
    assert loaded.jwt_algorithms == ["ES256"]
    assert loaded.agent_stream_timeout == 42


def test_a_bad_variable_stops_start_up_naming_it_without_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY__INTERNAL_API_KEY", KEY)
    monkeypatch.setenv("GATEWAY__AUTH_MODE", "magic")
    with pytest.raises(ConfigurationError, match="GATEWAY__AUTH_MODE") as caught:
        load_settings(Settings)
    assert KEY not in str(caught.value)
