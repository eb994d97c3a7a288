"""The gateway's Prometheus metrics, registered on the app's own registry.

The per-frame metrics (frames in/out by type, relay latency) are plain integers and floats on this object, turned
into metric families only when ``/metrics`` is scraped: prometheus_client's own counters take a lock per increment
and a histogram a lock and a bucket walk per observation, several µs per frame. The event loop is the only writer
and the scrape runs on it too, so no lock is needed. Rare events (errors, closes, the active gauge) use the library.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

_LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class LatencyHistogram:
    """Observations per bucket (upper bounds inclusive, as Prometheus counts them), their sum and count."""

    __slots__ = ("_bounds", "_counts", "sum")

    def __init__(self, bounds: tuple[float, ...] = _LATENCY_BUCKETS) -> None:
        self._bounds = bounds
        self._counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self._counts[bisect_left(self._bounds, seconds)] += 1
        self.sum += seconds

    def cumulative(self) -> list[tuple[str, float]]:
        """``le`` label and cumulative count per bucket, +Inf last (the exposition format)."""
        buckets, running = [], 0
        for bound, count in zip((*self._bounds, float("inf")), self._counts, strict=True):
            running += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), float(running)))
        return buckets


class FrameStats:
    """Frames in/out by type and the relay latency, collected on scrape."""

    def __init__(self) -> None:
        self.frames_in: dict[str, int] = {}
        self.frames_out: dict[str, int] = {}
        self.relay_latency = LatencyHistogram()

    def collect(self) -> Iterator[Metric]:
        frames_in = CounterMetricFamily(
            "gateway_ws_frames_in", "Frames received from clients, by type.", labels=["type"]
        )
        for kind, count in sorted(self.frames_in.items()):
            frames_in.add_metric([kind], count)
        frames_out = CounterMetricFamily("gateway_ws_frames_out", "Frames sent to clients, by type.", labels=["type"])
        for kind, count in sorted(self.frames_out.items()):
            frames_out.add_metric([kind], count)
        buckets = self.relay_latency.cumulative()
        latency = HistogramMetricFamily(
            "gateway_relay_latency_seconds", "Time from a runtime event arriving to its WebSocket frame being sent."
        )
        latency.add_metric([], buckets, self.relay_latency.sum)
        yield from (frames_in, frames_out, latency)


class GatewayMetrics:
    """Active sockets, frames in/out by type, relay latency, errors and closes by code."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.active = Gauge("gateway_ws_connections_active", "Open IDE WebSockets.", registry=registry)
        self.frames = FrameStats()
        registry.register(self.frames)
        self._errors = Counter("gateway_errors_total", "Errors, by kind.", ["kind"], registry=registry)
        self._closes = Counter("gateway_ws_closes_total", "WebSocket closes, by code.", ["code"], registry=registry)

    def frame_in(self, kind: str) -> None:
        counts = self.frames.frames_in
        counts[kind] = counts.get(kind, 0) + 1

    def frame_out(self, kind: str) -> None:
        counts = self.frames.frames_out
        counts[kind] = counts.get(kind, 0) + 1

    def relayed(self, seconds: float) -> None:
        """One runtime event sent ``seconds`` after it arrived."""
        self.frames.relay_latency.observe(seconds)

    def error(self, kind: str) -> None:
        self._errors.labels(kind).inc()

    def closed(self, code: int) -> None:
        self._closes.labels(str(code)).inc()
