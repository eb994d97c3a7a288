"""Prometheus metrics per model and provider, registered on the app's own registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_GAP = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)


class Metrics:
    """Every series the proxy exports; label values are model, provider and, for errors, the error kind."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ("model", "provider")
        self.requests = Counter("llm_proxy_requests", "Completions started", labels, registry=registry)
        self.errors = Counter("llm_proxy_errors", "Failed attempts by class", (*labels, "kind"), registry=registry)
        self.tokens = Counter("llm_proxy_tokens", "Tokens by kind", (*labels, "kind"), registry=registry)
        self.ttft = Histogram(
            "llm_proxy_time_to_first_token_seconds",
            "Request to first delta",
            labels,
            buckets=_LATENCY,
            registry=registry,
        )
        self.duration = Histogram(
            "llm_proxy_request_duration_seconds",
            "Request to end of stream",
            labels,
            buckets=_LATENCY,
            registry=registry,
        )
        self.gap = Histogram(
            "llm_proxy_inter_token_gap_seconds",
            "Time between upstream arrivals (deltas that come together count once)",
            labels,
            buckets=_GAP,
            registry=registry,
        )
        self.fallbacks = Counter(
            "llm_proxy_fallbacks",
            "Requests moved to the next deployment",
            ("from_model", "to_model"),
            registry=registry,
        )
        self.cooldowns = Counter("llm_proxy_cooldowns", "Cooldowns started", labels, registry=registry)
        self.retries = Counter("llm_proxy_retries", "Retries on the same deployment", labels, registry=registry)
