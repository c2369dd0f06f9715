"""Rows written per table, as `cdp bench pipeline` reports them per 1,000 events."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console

from cdp.bench.pipeline_report import (
    CeilingResult,
    PipelineReport,
    QualityResult,
    ThroughputResult,
    render_pipeline_table,
)
from cdp.bench.quality import PairCounts


def _run(rows: dict[str, int]) -> ThroughputResult:
    return ThroughputResult(
        events=2_000, produce_s=1.0, measured_events=1_800, measured_s=1.0,
        rss_first=1, rss_peak=2, rss_end=2, cpu={"processor": 0.9}, rows=rows,
    )  # fmt: skip


def _report(rows: dict[str, int]) -> PipelineReport:
    return PipelineReport(
        started_at=datetime(2026, 11, 24, tzinfo=UTC),
        options={},
        workload={"events": 2_000, "persons": 200, "mean_event_bytes": 400.0},
        throughput=_run(rows),
        quality=QualityResult(PairCounts(10, 10, 10, 100, 10, 10), 10, 10, 100, 0, 0, 0, 0, 0),
        ceiling=CeilingResult(1000, 100, 0.1, 10),
        latency=None,
        services={"kafka": "embedded tansu"},
        machine={"nproc": 2, "python": "3.12"},
    )


def test_per_1000_events_largest_first() -> None:
    run = _run({"outbox": 500, "events": 2_000, "processed_messages": 2_000, "merges": 1})
    assert list(run.rows_per_1000().items()) == [
        ("events", 1000.0),
        ("processed_messages", 1000.0),
        ("outbox", 250.0),
        ("merges", 0.5),
    ]


def test_the_row_shows_the_total_and_the_tables_of_one_row_or_more() -> None:
    report = _report({"outbox": 500, "events": 2_000, "merges": 1})
    console = Console(width=200, record=True)
    console.print(render_pipeline_table(report))
    assert "1,250: events 1,000, outbox 250" in console.export_text()
    throughput = report.as_json()["throughput"]
    assert isinstance(throughput, dict)
    assert throughput["rows_written"] == {"outbox": 500, "events": 2_000, "merges": 1}


def test_no_counts_no_row() -> None:
    console = Console(width=200, record=True)
    console.print(render_pipeline_table(_report({})))
    assert "rows written" not in console.export_text()
