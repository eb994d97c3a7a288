"""agent-runtime settings: every variable is ``AGENT_RUNTIME__<FIELD>``."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

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
    multi_agent_mode: bool = Field(True, description="Route through the orchestrator; false = one universal agent.")
    heartbeat_interval: float = Field(15.0, gt=0, description="Seconds between SSE heartbeats while idle.")
    llm_connect_timeout: float = Field(5.0, gt=0, description="Seconds to connect to the llm-proxy.")
