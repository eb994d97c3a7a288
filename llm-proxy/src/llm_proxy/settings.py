"""llm-proxy settings: every variable is ``LLM_PROXY__<FIELD>``."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from service_kit.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LLM_PROXY__", env_file=".env", extra="ignore")

    port: int = Field(8002, ge=0, le=65535, description="TCP port to bind.")
    default_model: str = Field("mock", description="Model used when a request names none.")
    mock_token_delay_ms: float = Field(
        20.0, ge=0, le=10_000, description="Pause between the mock model's tokens, so streaming is visible."
    )
