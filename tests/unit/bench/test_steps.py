"""The batch time by step that `cdp bench pipeline` reads from the processors' metrics."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Histogram, start_http_server
from rich.console import Console

from cdp.bench.pipeline_report import (
    CeilingResult,
    PipelineReport,
    QualityResult,
    ThroughputResult,
    render_pipeline_table,
)
from cdp.bench.quality import PairCounts
from cdp.bench.steps import STEP_METRIC, read_steps, step_means
from cdp.embedded import free_port

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
"""


def test_means_pool_every_processor_and_skip_steps_without_batches() -> None:
    means = step_means([FIRST, SECOND])
    assert set(means) == {"fold", "commit"}
    assert abs(means["fold"] - 100.0) < 1e-9  # (0.2 + 0.3) s over 5 batches
    assert abs(means["commit"] - 3.0) < 1e-9
    assert step_means([]) == {}


def test_read_from_a_served_exposition_and_a_port_that_does_not_answer() -> None:
    registry = CollectorRegistry()
    steps = Histogram(STEP_METRIC, "steps", ["step"], registry=registry)
    steps.labels("load").observe(0.5)
    steps.labels("load").observe(0.25)
    port = free_port()
    server, thread = start_http_server(port, "127.0.0.1", registry=registry)
    try:
        assert read_steps([port, free_port()]) == {"load": 375.0}
    finally:
        server.shutdown()
        thread.join(5)


def _report(steps: dict[str, float]) -> PipelineReport:
    run = ThroughputResult(
        events=20_000, produce_s=1.0, measured_events=18_000, measured_s=2.0,
        rss_first=1, rss_peak=2, rss_end=2, cpu={"processor": 0.9}, steps=steps,
    )  # fmt: skip
    return PipelineReport(
        started_at=datetime(2026, 11, 24, tzinfo=UTC),
        options={},
        workload={"events": 20_000, "persons": 2_000, "mean_event_bytes": 400.0},
        throughput=run,
        quality=QualityResult(PairCounts(10, 10, 10, 100, 10, 10), 10, 10, 100, 0, 0, 0, 0, 0),
        ceiling=CeilingResult(1000, 100, 0.1, 10),
        latency=None,
        services={"kafka": "embedded tansu"},
        machine={"nproc": 2, "python": "3.12"},
    )


def test_steps_are_reported_in_batch_order_with_prepare_last() -> None:
    report = _report({"prepare": 95.2, "commit": 3.04, "load": 110.4, "fold": 58.6})
    console = Console(width=200, record=True)
    console.print(render_pipeline_table(report))
    text = console.export_text()
    assert "load 110, fold 59, commit 3, prepare 95 (in parallel) ms" in text
    throughput = report.as_json()["throughput"]
    assert isinstance(throughput, dict)
    assert throughput["batch_ms_by_step"] == {
        "prepare": 95.2, "commit": 3.0, "load": 110.4, "fold": 58.6
    }  # fmt: skip


def test_no_steps_no_row() -> None:
    report = _report({})
    console = Console(width=200, record=True)
    console.print(render_pipeline_table(replace(report)))
    assert "by step" not in console.export_text()
    throughput = report.as_json()["throughput"]
    assert isinstance(throughput, dict)
    assert "batch_ms_by_step" not in throughput
