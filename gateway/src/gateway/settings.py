"""gateway settings: every variable is ``GATEWAY__<FIELD>``."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from service_kit.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY__", env_file=".env", extra="ignore")

    port: int = Field(8000, ge=0, le=65535, description="TCP port to bind.")
    agent_url: str = Field("http://127.0.0.1:8001", description="Base URL of the agent runtime.")
    agent_stream_timeout: float = Field(
        300.0, gt=0, description="Seconds a runtime stream may stay silent (heartbeats count) before it is abandoned."
    )
    agent_connect_timeout: float = Field(5.0, gt=0, description="Seconds to connect to the agent runtime.")
