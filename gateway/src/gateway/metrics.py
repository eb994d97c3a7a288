"""The gateway's Prometheus metrics, registered on the app's own registry.

Labelled children are resolved once per label value and cached, so the per-frame cost on the hot path is a dict
lookup and an increment.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class GatewayMetrics:
    """Active sockets, frames in/out by type, relay latency, errors and closes by code."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.active = Gauge("gateway_ws_connections_active", "Open IDE WebSockets.", registry=registry)
        self._frames_in = Counter(
            "gateway_ws_frames_in_total", "Frames received from clients, by type.", ["type"], registry=registry
        )
        self._frames_out = Counter(
            "gateway_ws_frames_out_total", "Frames sent to clients, by type.", ["type"], registry=registry
        )
        self.relay_latency = Histogram(
            "gateway_relay_latency_seconds",
            "Time from a runtime event arriving to its WebSocket frame being sent.",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self._errors = Counter("gateway_errors_total", "Errors, by kind.", ["kind"], registry=registry)
        self._closes = Counter("gateway_ws_closes_total", "WebSocket closes, by code.", ["code"], registry=registry)
        self._in_cache: dict[str, Counter] = {}
        self._out_cache: dict[str, Counter] = {}

    def frame_in(self, kind: str) -> None:
        child = self._in_cache.get(kind)
        if child is None:
            child = self._in_cache[kind] = self._frames_in.labels(kind)
        child.inc()

    def frame_out(self, kind: str) -> None:
        child = self._out_cache.get(kind)
        if child is None:
            child = self._out_cache[kind] = self._frames_out.labels(kind)
        child.inc()

    def error(self, kind: str) -> None:
        self._errors.labels(kind).inc()

    def closed(self, code: int) -> None:
        self._closes.labels(str(code)).inc()
