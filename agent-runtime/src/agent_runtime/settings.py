"""agent-runtime settings: every variable is ``AGENT_RUNTIME__<FIELD>``."""

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from agent_runtime.infrastructure.database import normalise_db_url
from service_kit.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AGENT_RUNTIME__", env_file=".env", extra="ignore")

    port: int = Field(8001, ge=0, le=65535, description="TCP port to bind.")
    llm_proxy_url: str = Field("http://127.0.0.1:8002", description="Base URL of the llm-proxy.")
    llm_model: str = Field("mock", description="Model the agents use unless an agent names its own.")
    data_dir: Path = Field(Path("data"), description="Where the default SQLite database lives.")
    db_url: str | None = Field(
        None, description="sqlite:///path or postgresql://user@host/db; default: a SQLite file in data_dir."
    )
    db_echo: bool = Field(False, description="Log every SQL statement (debugging only).")
    db_pool_size: int = Field(10, ge=1, description="PostgreSQL: connections kept in the pool.")
    db_max_overflow: int = Field(40, ge=0, description="PostgreSQL: extra connections under load.")
    migrate_on_start: bool = Field(True, description="Apply pending Alembic migrations at start-up.")
    multi_agent_mode: bool = Field(True, description="Route through the orchestrator; false = one universal agent.")
    heartbeat_interval: float = Field(15.0, gt=0, description="Seconds between SSE heartbeats while idle.")
    max_request_bytes: int = Field(
        16 * 1024 * 1024,
        gt=0,
        description="Largest request body (a tool result on /agent/message/stream), cut while it arrives; 413.",
    )
    llm_connect_timeout: float = Field(5.0, gt=0, description="Seconds to connect to the llm-proxy.")
    llm_stream_timeout: float = Field(
        45.0,
        gt=0,
        description="Seconds a model call may stay silent (the llm-proxy's heartbeats count) before the proxy is taken "
        "for stuck and the turn ends with an error.",
    )
    session_ttl_hours: float = Field(
        24.0 * 30, ge=0, description="Sessions idle longer than this are soft-deleted; 0 disables the cleanup."
    )
    cleanup_interval: float = Field(600.0, gt=0, description="Seconds between session cleanup passes.")
    agents_file: Path | None = Field(
        None, description="YAML file overriding agents (prompt, tools, model, write_extensions) or adding agents."
    )
    approval_file: Path | None = Field(
        None,
        description="YAML file with the approval policy: gated tools, read-only and denied commands, and rules such as "
        "Bash(npm test:*), Read(src/**), Write(docs/**/*.md) (doc/security.md).",
    )
    router_model: str | None = Field(None, description="Model for the orchestrator's routing; default llm_model.")
    router_keyword_shortcut: float = Field(
        0.7,
        ge=0,
        le=1,
        description="Keywords of one agent only, this sure (0.7 = three matches), route without the model's "
        "classification call; 1 = always ask the model (keyword confidence tops out at 0.8).",
    )
    llm_retries: int = Field(2, ge=0, le=10, description="Retries of a model call before its first token.")
    llm_retry_backoff: float = Field(0.3, ge=0, description="Seconds before the first retry (grows linearly).")
    llm_breaker_threshold: int = Field(5, ge=1, description="Failed model calls in a row that open the breaker.")
    llm_breaker_cooldown: float = Field(15.0, gt=0, description="Seconds the open breaker refuses model calls.")
    context_window: int = Field(
        8_192,
        ge=1_000,
        description="Context window assumed when the llm-proxy does not list the model (as the proxy's own default).",
    )
    reply_reserve_tokens: int = Field(2_000, ge=0, description="Tokens of the window kept free for the answer.")
    max_tool_rounds: int = Field(25, ge=1, description="Tool rounds per turn before the loop guard stops it.")
    max_identical_calls: int = Field(
        3, ge=2, description="Identical tool calls (same tool and arguments) per turn before the loop guard stops it."
    )
    approval_ttl_seconds: float | None = Field(
        None, gt=0, description="Pending approvals older than this expire (the call fails cleanly); unset = never."
    )
    approval_sweep_interval: float = Field(
        5.0, gt=0, description="Seconds between passes that expire undecided approvals (with APPROVAL_TTL_SECONDS)."
    )

    lease_seconds: float = Field(
        10.0,
        ge=1,
        description="PostgreSQL: how long a replica's hold on a session it writes lasts unless renewed (every third "
        "of it); a dead replica's turns are taken over once it expires.",
    )
    replica_id: str | None = Field(
        None,
        max_length=128,
        description="PostgreSQL: this replica's name as the owner of its session leases, unique per replica and the "
        "same across its restarts, so a restarted replica takes its interrupted turns back at once (instead of after "
        "LEASE_SECONDS); unset = a new name per process.",
    )
    takeover_interval: float = Field(
        2.0,
        gt=0,
        description="PostgreSQL: seconds between passes that take over the turns of a replica that died (their "
        "session lock is free while their run is marked running).",
    )

    @field_validator("db_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value:
            normalise_db_url(value, Path("."))  # raises on a scheme we cannot drive
        return value or None

    def database_url(self) -> str:
        """The SQLAlchemy async URL (aiosqlite or asyncpg)."""
        return normalise_db_url(self.db_url, self.data_dir)
