"""llm-proxy settings: every variable is ``LLM_PROXY__<FIELD>``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from service_kit.settings import ServiceSettings

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LLM_PROXY__", env_file=".env", extra="ignore")

    port: int = Field(8002, ge=0, le=65535, description="TCP port to bind.")
    default_model: str = Field("mock", description="Model used when a request names none.")
    models_file: Path | None = Field(None, description="YAML model table; without it the built-in tables apply.")
    mock_token_delay_ms: float = Field(
        20.0, ge=0, le=10_000, description="Pause between the mock model's tokens, so streaming is visible."
    )

    openai_api_key: SecretStr = Field(SecretStr(""), description="Key for the openai provider.")
    openai_base_url: str = Field(OPENAI_DEFAULT_BASE_URL, description="Any OpenAI-compatible base URL (…/v1).")
    anthropic_api_key: SecretStr = Field(SecretStr(""), description="Key for the anthropic provider.")
    anthropic_base_url: str = Field("https://api.anthropic.com", description="Base URL of the Messages API.")
    ollama_base_url: str = Field("", description="Base URL of an Ollama server, e.g. http://127.0.0.1:11434.")

    connect_timeout_s: float = Field(10.0, gt=0, description="Seconds to open a connection to an upstream.")
    first_byte_timeout_s: float = Field(
        600.0,
        gt=0,
        description="Seconds from request to the first delta, for models without 'first_byte_timeout' in the models "
        "file (reasoning models may think for minutes).",
    )
    heartbeat_interval_s: float = Field(
        15.0, gt=0, description="A streamed answer silent this long gets a ': keep-alive' comment (at most 2x apart)."
    )
    inter_chunk_timeout_s: float = Field(60.0, gt=0, description="Longest silence allowed inside a stream.")
    max_retries: int = Field(2, ge=0, le=10, description="Retries per deployment before the first byte.")
    retry_backoff_s: float = Field(0.25, ge=0, description="First backoff; doubles per retry, with jitter.")
    retry_backoff_max_s: float = Field(4.0, ge=0, description="Cap of one backoff.")
    max_retry_after_s: float = Field(
        10.0, ge=0, description="A Retry-After longer than this is not waited for; the 429 goes to the client."
    )
    cooldown_s: float = Field(5.0, ge=0, description="How long a deployment is skipped after a 429 or failures.")
    failure_threshold: int = Field(3, ge=1, description="Consecutive failures that put a deployment in cooldown.")
    default_context_window: int = Field(8192, ge=256, description="Window of '<provider>/<model>' names.")
    max_request_bytes: int = Field(16 * 1024 * 1024, ge=1024, description="Larger request bodies get 413.")
    session_usage_limit: int = Field(10_000, ge=0, description="Sessions whose usage is kept (LRU).")
    responses_store_limit: int = Field(
        1000, ge=0, description="Responses kept per caller for previous_response_id (least recent dropped); 0: none."
    )
    responses_store_ttl_s: float = Field(3600.0, gt=0, description="How long a stored response can be continued.")
    responses_store_max_mb: float = Field(
        256.0,
        ge=0,
        description="Memory the kept responses may hold in all (approximate: request bodies and outputs); the least "
        "recently stored are dropped first.",
    )
    responses_store_max_entry_mb: float = Field(
        32.0,
        ge=0,
        description="With REDIS_URL: a response whose stored JSON (conversation and output) is larger is not kept.",
    )
    responses_unsupported_tools: Literal["refuse", "ignore"] = Field(
        "refuse",
        description="Tools of /v1/responses other than function and custom tools (web_search, file_search, ...): "
        "'refuse' answers 400 naming them; 'ignore' leaves them out and lets the model work with the others.",
    )
    redis_url: SecretStr = Field(
        SecretStr(""),
        description="Redis shared by the proxy's replicas for cooldowns, rpm/tpm budgets and stored responses, e.g. "
        "redis://redis:6379/0; empty: each process keeps its own.",
    )
    redis_prefix: str = Field("codelab:llm-proxy:", description="Prefix of every Redis key and channel the proxy uses.")
    redis_timeout_s: float = Field(
        0.25,
        gt=0,
        le=10,
        description="Longest wait for Redis on a request (event-loop lag included); slower or down: per-process "
        "limits and stored responses until it answers again.",
    )

    def configured_providers(self) -> set[str]:
        """Providers with what they need to be called; the mock always is."""
        configured = {"mock"}
        if self.openai_api_key.get_secret_value() or self.openai_base_url.rstrip("/") != OPENAI_DEFAULT_BASE_URL:
            configured.add("openai")
        if self.anthropic_api_key.get_secret_value():
            configured.add("anthropic")
        if self.ollama_base_url:
            configured.add("ollama")
        return configured
