"""Base settings shared by the three services and the loader that validates them once at start-up."""

from __future__ import annotations

from typing import Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LogFormat = Literal["auto", "json", "console"]


class ServiceSettings(BaseSettings):
    """Fields every service has. Subclasses set ``env_prefix`` (``GATEWAY__`` …) and a default ``port``."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    host: str = Field("127.0.0.1", description="Address to bind.")
    port: int = Field(0, ge=0, le=65535, description="TCP port to bind.")
    log_level: LogLevel = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")
    max_header_bytes: int = Field(
        16 * 1024,
        ge=1024,
        description="Largest request head (request line and headers, in bytes); larger requests get 431 before any "
        "work.",
    )
    log_format: LogFormat = Field(
        "auto",
        description="json (one JSON object per line), console (a compact coloured line per event, for a person) "
        "or auto: console when stdout is a terminal, json otherwise. NO_COLOR turns the colours off.",
    )
    max_request_bytes: int = Field(
        16 * 1024 * 1024, gt=0, description="Largest request body, cut while it arrives; larger requests get 413."
    )
    internal_api_key: SecretStr = Field(
        ...,
        min_length=16,
        description="Shared secret for service-to-service calls (X-Internal-Auth). Required, at least 16 characters.",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    def secrets(self) -> list[str]:
        """Every secret value this configuration holds, for log redaction."""
        found = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr) and value.get_secret_value():
                found.append(value.get_secret_value())
        return found


S = TypeVar("S", bound=BaseSettings)


class ConfigurationError(SystemExit):
    """Raised at start-up when the environment does not describe a valid configuration."""


def load_settings(cls: type[S]) -> S:
    """Build the settings once; on a bad value, stop with one line per variable (never echoing the value)."""
    try:
        return cls()
    except ValidationError as exc:
        prefix = str(cls.model_config.get("env_prefix", ""))
        lines = []
        for error in exc.errors(include_input=False, include_url=False):
            field = "_".join(str(part) for part in error["loc"]).upper()
            lines.append(f"  {prefix}{field}: {error['msg']}" if field else f"  {error['msg']}")
        raise ConfigurationError("invalid configuration:\n" + "\n".join(lines)) from None
