"""Prometheus metrics fed by the event bus (a subscriber) and a delivery-timing middleware; the replicas' figures."""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from agent_runtime.application.event_bus import Envelope, Next


class EventMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter(
            "agent_runtime_domain_events_total", "Domain events published", ["type", "category"], registry=registry
        )
        self.delivery = Histogram(
            "agent_runtime_event_delivery_seconds",
            "Time one subscriber took for one event",
            buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0),
            registry=registry,
        )

    async def on_event(self, envelope: Envelope) -> None:
        event = envelope.event
        self.events.labels(event.type, event.category).inc()

    async def timing(self, envelope: Envelope, call_next: Next) -> None:
        started = time.perf_counter()
        try:
            await call_next(envelope)
        finally:
            self.delivery.observe(time.perf_counter() - started)


class ReplicaMetrics:
    """Several replicas on PostgreSQL: the relay's connection, the leases held and lost, the turns taken over."""

    def __init__(self, registry: CollectorRegistry, *, relay_up: Callable[[], bool], leases: Callable[[], int]) -> None:
        Gauge(
            "agent_runtime_fanout_relay_up", "1 while the cross-replica relay listens (ADR 8)", registry=registry
        ).set_function(lambda: float(relay_up()))
        Gauge(
            "agent_runtime_session_leases", "Sessions this replica holds a lease on (writes now)", registry=registry
        ).set_function(lambda: float(leases()))
        self.takeovers = Counter(
            "agent_runtime_takeovers_total", "Interrupted turns this replica took over", registry=registry
        )
        self.leases_lost = Counter(
            "agent_runtime_session_leases_lost_total",
            "Sessions another replica took over while this one held them (it stalled longer than the lease)",
            registry=registry,
        )
