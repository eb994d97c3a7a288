"""gateway settings: every variable is ``GATEWAY__<FIELD>``."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from service_kit.settings import ServiceSettings

AuthMode = Literal["none", "token", "jwt", "local"]
CommaList = Annotated[list[str], NoDecode]


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(ServiceSettings):
    """The gateway's configuration; list values are comma-separated in the environment."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY__", env_file=".env", extra="ignore")

    port: int = Field(8000, ge=0, le=65535, description="TCP port to bind.")
    agent_url: str = Field("http://127.0.0.1:8001", description="Base URL of the agent runtime.")
    agent_stream_timeout: float = Field(
        45.0,
        gt=0,
        description="Seconds a runtime stream may stay silent (its heartbeats count) before the runtime is taken for "
        "stuck and the client gets an error frame.",
    )
    agent_connect_timeout: float = Field(5.0, gt=0, description="Seconds to connect to the agent runtime.")
    agent_rest_timeout: float = Field(30.0, gt=0, description="Seconds a forwarded REST call may take (then 504).")

    auth_mode: AuthMode = Field(
        "none", description="none (development, loopback only), local (users file), token, or jwt."
    )
    auth_none_force: bool = Field(False, description="Allow auth_mode=none on a non-loopback address.")
    auth_tokens: SecretStr = Field(
        SecretStr(""), description="token mode: comma-separated 'subject:token' pairs (or bare tokens)."
    )
    ws_query_token: bool = Field(False, description="Accept ?access_token=… on the WebSocket (never logged).")
    ws_anonymous: bool = Field(
        False, description="Let WebSockets without credentials in (the IDE sends none); they get no subject."
    )
    users_file: str = Field(
        "", description="local mode: the users file, managed with 'python -m gateway users add|passwd|remove|list'."
    )
    login_failures_per_user: int = Field(
        5, ge=1, description="local mode: failed logins per username in a window before logins wait (429)."
    )
    login_failures_per_address: int = Field(
        30, ge=1, description="local mode: failed logins per client address in a window before logins wait (429)."
    )
    login_failure_window_seconds: float = Field(
        900.0, gt=0, description="local mode: how long failed logins are counted (and a throttled login waits)."
    )
    forwarded_allow_ips: CommaList = Field(
        ["127.0.0.1"],
        description="Proxies whose X-Forwarded-For names the client (its address counts failed logins); '*' = any.",
    )
    signing_key_file: str = Field(
        "",
        description="none/local modes: PEM file of the ES256 key that signs access tokens; created (mode 0600) if "
        "missing. Empty in mode none: a new key at every start.",
    )
    signing_keys_previous: CommaList = Field(
        [], description="PEM files of earlier signing keys: their tokens still verify and they stay in the JWKS."
    )
    token_issuer: str = Field("codelab-gateway", description="'iss' of the access tokens this gateway issues.")
    token_audience: str = Field("codelab", description="'aud' of the access tokens this gateway issues.")
    access_token_seconds: int = Field(
        900,
        ge=60,
        le=86_400,
        description="Lifetime of an issued access token. The IDE refreshes when less than 300 s remain, so keep it "
        "well above 300.",
    )
    refresh_token_seconds: int = Field(
        30 * 86_400, ge=300, description="A login ends when its refresh token is not used for this long."
    )
    token_store_url: SecretStr = Field(
        SecretStr(""),
        description="Where logins and failed-login counters live: empty = this process (one gateway); "
        "redis://host:6379/0 = shared by every replica.",
    )
    token_store_prefix: str = Field("codelab:gateway:", description="Prefix of the gateway's keys in the store.")
    jwt_jwks_url: str = Field("", description="jwt mode: the JWKS URL of the OAuth server.")
    jwt_issuer: str = Field("", description="jwt mode: required 'iss'.")
    jwt_audience: str = Field("", description="jwt mode: required 'aud'.")
    jwt_algorithms: CommaList = Field(["RS256", "ES256"], description="Accepted JWT algorithms.")
    jwt_leeway: float = Field(30.0, ge=0, description="Seconds of clock skew tolerated on exp/nbf.")
    jwks_cache_seconds: float = Field(300.0, gt=0, description="How long fetched JWKS keys are trusted.")
    jwks_min_refresh_seconds: float = Field(
        30.0, ge=0, description="An unknown 'kid' refetches the JWKS at most this often."
    )

    ws_allowed_origins: CommaList = Field(
        [], description="Origins allowed on the WebSocket; '*' allows any. A missing Origin (non-browser) is allowed."
    )
    ws_max_frame_bytes: int = Field(1_048_576, gt=0, description="Largest inbound frame; larger closes with 1009.")
    max_request_bytes: int = Field(
        1_048_576, gt=0, description="Largest request body (REST facade, ACP over HTTP), cut while it arrives; 413."
    )
    ws_rate_per_second: float = Field(20.0, gt=0, description="Sustained inbound frames per second per socket.")
    ws_rate_burst: int = Field(60, gt=0, description="Inbound frames allowed in a burst; a flood closes with 1008.")
    ws_outbound_buffer: int = Field(256, ge=4, description="Frames queued per socket before deltas are coalesced.")
    ws_slow_consumer_seconds: float = Field(
        10.0, gt=0, description="How long the outbound buffer may stay full before closing with 1013."
    )

    ws_hello_grace_seconds: float = Field(
        0.3, ge=0, description="On reconnect, how long a v1 tool-call restore waits for a first 'hello' frame."
    )

    @field_validator(
        "jwt_algorithms", "ws_allowed_origins", "signing_keys_previous", "forwarded_allow_ips", mode="before"
    )
    @classmethod
    def _lists(cls, value: object) -> object:
        return _split_commas(value)

    @model_validator(mode="after")
    def _auth_is_coherent(self) -> Settings:
        if self.auth_mode == "none" and not self.auth_none_force and not is_loopback(self.host):
            raise ValueError(
                "GATEWAY__AUTH_MODE=none is only allowed on a loopback host (GATEWAY__AUTH_NONE_FORCE=true overrides)"
            )
        if self.auth_mode == "token" and not self.token_table():
            raise ValueError("GATEWAY__AUTH_MODE=token needs GATEWAY__AUTH_TOKENS")
        if self.auth_mode == "local" and not (self.users_file and self.signing_key_file):
            raise ValueError("GATEWAY__AUTH_MODE=local needs GATEWAY__USERS_FILE and GATEWAY__SIGNING_KEY_FILE")
        if any(not subject.strip() for subject in self.token_table().values()):
            raise ValueError("GATEWAY__AUTH_TOKENS: a subject before ':' must not be blank")
        if self.auth_mode == "jwt" and not (self.jwt_jwks_url and self.jwt_issuer and self.jwt_audience):
            raise ValueError(
                "GATEWAY__AUTH_MODE=jwt needs GATEWAY__JWT_JWKS_URL, GATEWAY__JWT_ISSUER and GATEWAY__JWT_AUDIENCE"
            )
        return self

    @property
    def issues_tokens(self) -> bool:
        """Whether ``/oauth/token`` is served (the modes where the gateway is its own identity provider)."""
        return self.auth_mode in ("none", "local")

    def token_table(self) -> dict[str, str]:
        """token → subject for token mode; a bare token's subject is ``token-<n>``."""
        table: dict[str, str] = {}
        entries = [part.strip() for part in self.auth_tokens.get_secret_value().split(",") if part.strip()]
        for n, entry in enumerate(entries):
            subject, sep, token = entry.partition(":")
            if not sep:
                subject, token = "", entry
            if token:
                table[token] = subject or f"token-{n}"
        return table

    def secrets(self) -> list[str]:
        """Every secret, each static token on its own so a single leaked token is still masked."""
        return [*super().secrets(), *self.token_table()]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
