import pytest
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from service_kit.settings import ConfigurationError, ServiceSettings, load_settings


class DemoSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DEMO__", env_file=None)
    port: int = Field(9000)


def test_a_bad_value_stops_with_a_message_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO__INTERNAL_API_KEY", "a-long-enough-secret-value")
    monkeypatch.setenv("DEMO__PORT", "ninety")
    with pytest.raises(ConfigurationError) as error:
        load_settings(DemoSettings)
    assert "DEMO__PORT" in str(error.value.code)


def test_the_message_never_echoes_a_rejected_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO__INTERNAL_API_KEY", "tiny")
    with pytest.raises(ConfigurationError) as error:
        load_settings(DemoSettings)
    assert "DEMO__INTERNAL_API_KEY" in str(error.value.code)
    assert "tiny" not in str(error.value.code)


def test_secrets_lists_every_secret_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO__INTERNAL_API_KEY", "a-long-enough-secret-value")
    monkeypatch.setenv("DEMO__LOG_LEVEL", "debug")
    settings = load_settings(DemoSettings)
    assert settings.secrets() == ["a-long-enough-secret-value"]
    assert settings.log_level == "DEBUG"
