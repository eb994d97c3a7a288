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
    db_max_overflow: int = Field(
        40, ge=0, description="PostgreSQL: extra connections under load (each running turn holds one for its lock)."
    )
    migrate_on_start: bool = Field(True, description="Apply pending Alembic migrations at start-up.")
    multi_agent_mode: bool = Field(True, description="Route through the orchestrator; false = one universal agent.")
    heartbeat_interval: float = Field(15.0, gt=0, description="Seconds between SSE heartbeats while idle.")
    llm_connect_timeout: float = Field(5.0, gt=0, description="Seconds to connect to the llm-proxy.")
    session_ttl_hours: float = Field(
        24.0 * 30, ge=0, description="Sessions idle longer than this are soft-deleted; 0 disables the cleanup."
    )
    cleanup_interval: float = Field(600.0, gt=0, description="Seconds between session cleanup passes.")

    @field_validator("db_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value:
            normalise_db_url(value, Path("."))  # raises on a scheme we cannot drive
        return value or None

    def database_url(self) -> str:
        """The SQLAlchemy async URL (aiosqlite or asyncpg)."""
        return normalise_db_url(self.db_url, self.data_dir)
