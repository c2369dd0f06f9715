"""The pipeline report's PII encryption comparison (`cdp bench pipeline --compare-encryption`),
and sides measured more than once (`--repeat`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from rich.console import Console

from cdp.bench.pipeline_report import (
    CeilingResult,
    PipelineReport,
    QualityResult,
    ThroughputResult,
    render_pipeline_table,
)
from cdp.bench.quality import PairCounts
from cdp.bench.repeats import median_run


def throughput(events_per_s: float, processor_cores: float) -> ThroughputResult:
    return ThroughputResult(
        events=20_000, produce_s=1.0, measured_events=18_000, measured_s=18_000 / events_per_s,
        rss_first=1, rss_peak=2, rss_end=2, cpu={"processor": processor_cores, "postgres": 0.5},
    )  # fmt: skip


def report(on: float, off: float | None) -> PipelineReport:
    pairs = PairCounts(10, 10, 10, 100, 10, 10)
    return PipelineReport(
        started_at=datetime(2026, 11, 24, tzinfo=UTC),
        options={},
        workload={"events": 20_000, "persons": 2_000, "mean_event_bytes": 400.0},
        throughput=throughput(on, 0.9),
        quality=QualityResult(pairs, 10, 10, 100, 0, 0, 0, 0, 0),
        ceiling=CeilingResult(1000, 100, 0.1, 10),
        latency=None,
        services={"kafka": "embedded tansu"},
        machine={"nproc": 2, "python": "3.12"},
        in_clear=None if off is None else throughput(off, 0.8),
    )


def test_slowdown_goal_and_json() -> None:
    within = report(9_000, 10_000)
    assert within.encryption_slowdown is not None
    assert abs(within.encryption_slowdown - 0.10) < 1e-9
    assert within.goals()["encryption_slowdown"] is True
    assert report(8_000, 10_000).goals()["encryption_slowdown"] is False
    doc = within.as_json()["encryption"]
    assert isinstance(doc, dict)
    assert doc["events_per_s_off"] == 10_000
    assert doc["events_per_s_on"] == 9_000
    assert doc["slowdown"] == 0.1
    assert doc["goal_max_slowdown"] == 0.15
    cpu = doc["cpu_s_per_1000_events"]
    assert isinstance(cpu, dict)
    assert cpu["processor"] == {"without": 0.08, "with": 0.1}


def test_not_run_leaves_no_goal_and_no_rows() -> None:
    plain = report(9_000, None)
    assert "encryption_slowdown" not in plain.goals()
    assert plain.as_json()["encryption"] is None
    console = Console(width=200, record=True)
    console.print(render_pipeline_table(plain))
    assert "PII encryption" not in console.export_text()
    console.print(render_pipeline_table(replace(plain, in_clear=throughput(10_000, 0.8))))
    text = console.export_text()
    assert "PII encryption off / on" in text
    assert "10,000 / 9,000 events/s (+10.0% slower)" in text


def test_repeated_sides_report_their_median_run_and_every_run() -> None:
    runs = [throughput(9_000, 0.9), throughput(8_000, 0.7), throughput(9_500, 0.8)]
    median = median_run(runs)
    assert median.events_per_s == 9_000
    assert median.cpu["processor"] == 0.9  # the median run's own figures, not a mix
    assert median.runs == (9_000.0, 8_000.0, 9_500.0)
    assert median_run(runs[:2]).events_per_s == 8_000  # the lower middle of an even count
    assert median_run(runs[:1]) is runs[0]
    with pytest.raises(ValueError, match="no runs"):
        median_run([])
    repeated = replace(report(9_000, 10_000), in_clear=median_run([throughput(10_000, 0.8)] * 3))
    repeated = replace(repeated, throughput=median)
    doc = repeated.as_json()
    encryption = doc["encryption"]
    assert isinstance(encryption, dict)
    assert encryption["runs_events_per_s"] == [9_000, 8_000, 9_500]
    assert encryption["off_runs_events_per_s"] == [10_000, 10_000, 10_000]
    console = Console(width=200, record=True)
    console.print(render_pipeline_table(repeated))
    text = console.export_text()
    assert "runs (median shown)" in text
    assert "9,000, 8,000, 9,500 events/s" in text
    assert "runs in clear" in text
    single = report(9_000, 10_000).as_json()
    assert "runs_events_per_s" not in str(single)


def test_each_run_reports_the_speed_probes_taken_around_it() -> None:
    runs = [
        replace(throughput(9_000, 0.9), probe_s=(0.3, 0.31)),
        replace(throughput(5_000, 0.9), probe_s=(0.56, 0.55)),
        replace(throughput(9_500, 0.9), probe_s=(0.29, 0.3)),
    ]
    single = replace(report(9_000, None), throughput=runs[0])
    plain = single.as_json()["throughput"]
    assert isinstance(plain, dict)
    assert plain["speed_probe_s"] == [0.3, 0.31]
    console = Console(width=200, record=True)
    console.print(render_pipeline_table(single))
    assert "0.30 / 0.31 CPU-s" in console.export_text()

    repeated = replace(single, throughput=median_run(runs))
    doc = repeated.as_json()["throughput"]
    assert isinstance(doc, dict)
    assert doc["speed_probe_s"] == [0.3, 0.31], "the median run's own probes"
    assert doc["runs_speed_probe_s"] == [[0.3, 0.31], [0.56, 0.55], [0.29, 0.3]]
    console.print(render_pipeline_table(repeated))
    assert "0.30 / 0.31, 0.56 / 0.55, 0.29 / 0.30 CPU-s" in console.export_text()
