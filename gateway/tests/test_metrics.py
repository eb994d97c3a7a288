"""The gateway's metrics as Prometheus exposes them: per-frame counts and the relay-latency histogram."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from gateway.metrics import GatewayMetrics, LatencyHistogram


def test_a_latency_equal_to_a_bound_counts_in_that_bound_s_bucket() -> None:
    histogram = LatencyHistogram((0.001, 0.01))
    for seconds in (0.0005, 0.001, 0.002, 5.0):
        histogram.observe(seconds)
    assert histogram.cumulative() == [("0.001", 2.0), ("0.01", 3.0), ("+Inf", 4.0)]
    assert histogram.sum == 0.0005 + 0.001 + 0.002 + 5.0


def test_frames_and_latency_are_exposed_in_the_prometheus_text_format() -> None:
    registry = CollectorRegistry()
    metrics = GatewayMetrics(registry)
    metrics.frame_out("assistant_message")
    metrics.frame_out("assistant_message")
    metrics.frame_in("user_message")
    metrics.relayed(0.0003)
    text = generate_latest(registry).decode()
    assert 'gateway_ws_frames_out_total{type="assistant_message"} 2.0' in text
    assert 'gateway_ws_frames_in_total{type="user_message"} 1.0' in text
    assert 'gateway_relay_latency_seconds_bucket{le="0.00025"} 0.0' in text
    assert 'gateway_relay_latency_seconds_bucket{le="0.0005"} 1.0' in text
    assert 'gateway_relay_latency_seconds_bucket{le="+Inf"} 1.0' in text
    assert "gateway_relay_latency_seconds_count 1.0" in text
    assert "# TYPE gateway_relay_latency_seconds histogram" in text
