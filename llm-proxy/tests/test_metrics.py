"""The lock-free inter-token gap histogram exports exactly what a prometheus_client histogram would; model names
as label values are bounded."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from llm_proxy.metrics import MAX_MODEL_LABELS, LoopHistogram, Metrics

BUCKETS = (0.001, 0.01, 0.1)
VALUES = (0.0005, 0.001, 0.002, 0.05, 0.5, 0.01)


def exported(kind: type) -> list[str]:
    registry = CollectorRegistry()
    if kind is LoopHistogram:
        histogram = LoopHistogram("gap_seconds", "Gaps", ("model",), BUCKETS, registry)
    else:
        histogram = Histogram("gap_seconds", "Gaps", ("model",), buckets=BUCKETS, registry=registry)
    for value in VALUES:
        histogram.labels("m").observe(value)
    histogram.labels("other").observe(0.2)
    text = generate_latest(registry).decode()
    return sorted(line for line in text.splitlines() if "_created" not in line)


def test_buckets_count_and_sum_match_the_prometheus_client_histogram():
    assert exported(LoopHistogram) == exported(Histogram)


def test_a_value_on_a_bound_falls_in_that_bucket():
    registry = CollectorRegistry()
    histogram = LoopHistogram("gap_seconds", "Gaps", ("model",), BUCKETS, registry)
    histogram.labels("m").observe(0.01)
    text = generate_latest(registry).decode()
    assert 'gap_seconds_bucket{le="0.001",model="m"} 0.0' in text
    assert 'gap_seconds_bucket{le="0.01",model="m"} 1.0' in text
    assert 'gap_seconds_count{model="m"} 1.0' in text


def test_client_chosen_model_names_are_bounded_as_label_values() -> None:
    """``openai/<anything>`` passes through, so a client could mint a new series per request."""
    registry = CollectorRegistry()
    metrics = Metrics(registry, known=["gpt-main"])
    minted = [metrics.series(f"openai/m{i}", "openai") for i in range(MAX_MODEL_LABELS + 50)]
    for series in minted:
        series.requests.inc()
    assert metrics.model("gpt-main", "openai") == "gpt-main"  # the models table always keeps its names
    assert metrics.model("openai/m0", "openai") == "openai/m0"
    assert metrics.model(f"openai/m{MAX_MODEL_LABELS + 10}", "openai") == "openai/other"
    samples = [sample for metric in registry.collect() for sample in metric.samples]
    labels = {sample.labels["model"] for sample in samples if sample.name == "llm_proxy_requests_total"}
    assert len(labels) == MAX_MODEL_LABELS + 1
    assert "openai/other" in labels
