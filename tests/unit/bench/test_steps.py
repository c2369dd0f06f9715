"""The batch time by step and the deferred events that `cdp bench pipeline` reads from the
processors' metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from cdp.bench.pipeline_report import PipelineReport
from cdp.bench.steps import counter_total, read_metrics, step_means
from cdp.embedded import free_port
from cdp.profiles.observability import DEFERRED_METRIC, STEP_METRIC
from tests.unit.bench.reports import a_report, a_run, table_text

#: Two processors' expositions as prometheus_client writes them.
FIRST = """\
# HELP cdp_processor_step_seconds Time one micro-batch spends in each step.
# TYPE cdp_processor_step_seconds histogram
cdp_processor_step_seconds_bucket{le="0.1",step="fold"} 3.0
cdp_processor_step_seconds_bucket{le="+Inf",step="fold"} 4.0
cdp_processor_step_seconds_count{step="fold"} 4.0
cdp_processor_step_seconds_sum{step="fold"} 0.2
cdp_processor_step_seconds_count{step="commit"} 4.0
cdp_processor_step_seconds_sum{step="commit"} 0.012
# HELP cdp_processor_batch_seconds Time to apply one micro-batch.
# TYPE cdp_processor_batch_seconds histogram
cdp_processor_batch_seconds_count 4.0
cdp_processor_batch_seconds_sum 9.0
"""
SECOND = """\
# HELP cdp_processor_step_seconds Time one micro-batch spends in each step.
# TYPE cdp_processor_step_seconds histogram
cdp_processor_step_seconds_count{step="fold"} 1.0
cdp_processor_step_seconds_sum{step="fold"} 0.3
cdp_processor_step_seconds_count{step="segments"} 0.0
cdp_processor_step_seconds_sum{step="segments"} 0.0
# HELP cdp_processor_deferred_events_total Events deferred.
# TYPE cdp_processor_deferred_events_total counter
cdp_processor_deferred_events_total 7.0
cdp_processor_deferred_events_created 1.7e+09
"""


def test_means_pool_every_processor_and_skip_steps_without_batches() -> None:
    means = step_means([FIRST, SECOND])
    assert set(means) == {"fold", "commit"}
    assert abs(means["fold"] - 100.0) < 1e-9  # (0.2 + 0.3) s over 5 batches
    assert abs(means["commit"] - 3.0) < 1e-9
    assert step_means([]) == {}


def test_counter_sums_every_processor_and_ignores_its_created_sample() -> None:
    third = (
        "# TYPE cdp_processor_deferred_events_total counter\n"
        "cdp_processor_deferred_events_total 5.0\n"
    )
    assert counter_total([FIRST, SECOND, third], DEFERRED_METRIC) == 12.0
    assert counter_total([FIRST], DEFERRED_METRIC) == 0.0


def test_read_from_a_served_exposition_and_a_port_that_does_not_answer() -> None:
    registry = CollectorRegistry()
    steps = Histogram(STEP_METRIC, "steps", ["step"], registry=registry)
    steps.labels("load").observe(0.5)
    steps.labels("load").observe(0.25)
    Counter(DEFERRED_METRIC, "deferred", registry=registry).inc(3)
    port = free_port()
    server, thread = start_http_server(port, "127.0.0.1", registry=registry)
    try:
        assert read_metrics([port, free_port()]) == ({"load": 375.0}, 3)
    finally:
        server.shutdown()
        thread.join(5)


def _report(steps: dict[str, float]) -> PipelineReport:
    return a_report(a_run(steps=steps))


def test_steps_are_reported_in_batch_order_with_prepare_last() -> None:
    report = _report({"prepare": 95.2, "commit": 3.04, "load": 110.4, "fold": 58.6})
    assert "load 110, fold 59, commit 3, prepare 95 (in parallel) ms" in table_text(report)
    throughput = report.as_json()["throughput"]
    assert isinstance(throughput, dict)
    assert throughput["batch_ms_by_step"] == {
        "prepare": 95.2, "commit": 3.0, "load": 110.4, "fold": 58.6
    }  # fmt: skip


def test_no_steps_no_row() -> None:
    report = _report({})
    assert "by step" not in table_text(report)
    throughput = report.as_json()["throughput"]
    assert isinstance(throughput, dict)
    assert "batch_ms_by_step" not in throughput


def test_deferrals_are_reported_per_1000_events_only_when_some_were() -> None:
    report = a_report(a_run(deferred=30))
    assert "deferrals (locks busy)" in table_text(report)
    assert "30 (15.0 per 1,000 events)" in table_text(report)
    throughput = report.as_json()["throughput"]
    assert isinstance(throughput, dict)
    assert throughput["deferrals"] == 30
    plain = a_report(a_run())
    assert "deferred" not in table_text(plain)
    assert "deferrals" not in plain.as_json()["throughput"]  # type: ignore[operator]
