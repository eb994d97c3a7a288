"""Everything a request needs, built once in the app's lifespan and reached through ``app.state.proxy``."""

from __future__ import annotations

from dataclasses import dataclass

from llm_proxy.catalog import Catalog
from llm_proxy.dispatch import Dispatcher
from llm_proxy.doors.response_store import Responses
from llm_proxy.metrics import Metrics
from llm_proxy.providers.base import Provider
from llm_proxy.settings import Settings
from llm_proxy.usage import SessionUsage


@dataclass(slots=True)
class ProxyState:
    settings: Settings
    catalog: Catalog
    providers: dict[str, Provider]
    dispatcher: Dispatcher
    metrics: Metrics
    sessions: SessionUsage
    secrets: tuple[str, ...]
    responses: Responses
