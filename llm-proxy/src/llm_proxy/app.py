"""The composition root: everything the app needs is built here from ``Settings`` and put on ``app.state``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig

from llm_proxy import __version__, endpoint
from llm_proxy.api import router
from llm_proxy.capacity import Cooldowns, RateBudgets
from llm_proxy.catalog import Catalog, ModelEntry, ModelsFileError, builtin_entries, load_models_file
from llm_proxy.dispatch import Dispatcher, RetryPolicy
from llm_proxy.doors import embeddings, messages, responses
from llm_proxy.doors.response_store import Responses, ResponseStore
from llm_proxy.metrics import Metrics
from llm_proxy.providers.anthropic import AnthropicProvider
from llm_proxy.providers.base import Provider
from llm_proxy.providers.mock import MockProvider
from llm_proxy.providers.ollama import OllamaProvider
from llm_proxy.providers.openai import OpenAIProvider
from llm_proxy.providers.transport import new_session
from llm_proxy.schemas import openapi_components
from llm_proxy.settings import Settings
from llm_proxy.shared_capacity import SharedCapacity
from llm_proxy.shared_responses import SharedResponseStore
from llm_proxy.state import ProxyState
from llm_proxy.usage import SessionUsage
from service_kit.asgi import HotPathApp
from service_kit.errors import install_error_handlers
from service_kit.middleware import BodyLimitMiddleware, InternalAuthMiddleware, RequestContextMiddleware, public_paths
from service_kit.service import new_registry, service_routes
from service_kit.settings import ConfigurationError


def model_table(settings: Settings) -> Catalog:
    """The catalog from the models file, else the built-in tables; a bad file or default model stops start-up."""
    configured = settings.configured_providers()
    entries: dict[str, ModelEntry] = builtin_entries(configured)
    if settings.models_file is not None:
        try:
            entries = {**builtin_entries({"mock"}), **load_models_file(settings.models_file)}
        except ModelsFileError as exc:
            raise ConfigurationError(f"invalid models file: {exc}") from None
    catalog = Catalog(entries, configured, settings.default_context_window)
    if catalog.resolve(settings.default_model) is None:
        raise ConfigurationError(f"LLM_PROXY__DEFAULT_MODEL: '{settings.default_model}' is not in the model table")
    return catalog


def build_providers(settings: Settings) -> dict[str, Provider]:
    """One provider per kind, each with its own long-lived HTTP session (must run inside the event loop)."""
    configured = settings.configured_providers()
    connect, gap = settings.connect_timeout_s, settings.inter_chunk_timeout_s
    return {
        "mock": MockProvider(settings.mock_token_delay_ms / 1000),
        "openai": OpenAIProvider(
            new_session(connect),
            settings.openai_base_url,
            settings.openai_api_key.get_secret_value(),
            gap,
            enabled="openai" in configured,
        ),
        "anthropic": AnthropicProvider(
            new_session(connect), settings.anthropic_base_url, settings.anthropic_api_key.get_secret_value(), gap
        ),
        "ollama": OllamaProvider(new_session(connect), settings.ollama_base_url, gap),
    }


def create_app(settings: Settings) -> FastAPI:
    catalog = model_table(settings)
    registry = new_registry()
    metrics = Metrics(registry, known=catalog.entries)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        providers = build_providers(settings)
        policy = RetryPolicy(
            first_byte_timeout=settings.first_byte_timeout_s,
            max_retries=settings.max_retries,
            backoff=settings.retry_backoff_s,
            backoff_max=settings.retry_backoff_max_s,
            max_retry_after=settings.max_retry_after_s,
        )
        # With a Redis URL, cooldowns, budgets and stored responses are shared with the other replicas.
        shared = await SharedCapacity.start(settings, metrics) if settings.redis_url.get_secret_value() else None
        cooldowns = shared.cooldowns if shared else Cooldowns(settings.cooldown_s, settings.failure_threshold)
        budgets = shared.budgets if shared else RateBudgets()
        dispatcher = Dispatcher(catalog, providers, cooldowns, budgets, metrics, policy)
        sessions = SessionUsage(settings.session_usage_limit)
        secrets = tuple(settings.secrets())
        local = ResponseStore(
            settings.responses_store_limit,
            settings.responses_store_ttl_s,
            int(settings.responses_store_max_mb * 1024 * 1024),
        )
        responses: Responses = local
        if shared:  # in Redis for every replica; the in-process store while Redis is away
            max_entry = int(settings.responses_store_max_entry_mb * 1024 * 1024)
            responses = SharedResponseStore(shared.link, local, max_entry)
        app.state.proxy = ProxyState(settings, catalog, providers, dispatcher, metrics, sessions, secrets, responses)
        try:
            yield
        finally:
            for provider in providers.values():
                await provider.aclose()
            if shared:
                await shared.aclose()

    # FastAPI's OpenTelemetry hooks are off: the proxy exports Prometheus metrics, and the hooks' per-request
    # check of the global OTel providers was measurable on the hot route.
    telemetry: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}
    completions = endpoint.CompletionsEndpoint()
    app = HotPathApp(
        title="CodeLab llm-proxy",
        version=__version__,
        lifespan=lifespan,
        telemetry=telemetry,
    )
    app.add_hot_route(endpoint.PATH, completions, openapi=endpoint.openapi_operation(), schemas=openapi_components())
    app.add_hot_route(responses.PATH, responses.ResponsesEndpoint(), openapi=responses.openapi_operation())
    app.add_hot_route(embeddings.PATH, embeddings.EmbeddingsEndpoint(), openapi=embeddings.openapi_operation())
    app.add_hot_route(messages.PATH, messages.MessagesEndpoint(), openapi=messages.openapi_operation())
    app.add_hot_route(
        messages.COUNT_TOKENS_PATH, messages.CountTokensEndpoint(), openapi=messages.count_tokens_operation()
    )
    app.state.settings = settings
    app.state.registry = registry
    app.router.routes.extend(service_routes("llm-proxy", __version__, registry))
    app.include_router(router)
    app.include_router(responses.router)
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_request_bytes)
    app.add_middleware(
        InternalAuthMiddleware,
        key=settings.internal_api_key.get_secret_value(),
        is_protected=public_paths("/health"),
        refusal=messages.auth_refusal,
    )
    app.add_middleware(RequestContextMiddleware)
    return app
