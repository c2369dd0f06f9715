"""Pipeline reports to render in unit tests: one throughput run with the fields a test sets."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.console import Console

from cdp.bench.pipeline_report import (
    CeilingResult,
    PipelineReport,
    QualityResult,
    ThroughputResult,
    render_pipeline_table,
)
from cdp.bench.quality import PairCounts


def a_run(**fields: Any) -> ThroughputResult:
    """A run of 2,000 events, 1,800 of them measured in one second, with `fields` on top."""
    base: dict[str, Any] = {
        "events": 2_000, "produce_s": 1.0, "measured_events": 1_800, "measured_s": 1.0,
        "rss_first": 1, "rss_peak": 2, "rss_end": 2, "cpu": {"processor": 0.9},
    }  # fmt: skip
    return ThroughputResult(**{**base, **fields})


def a_report(run: ThroughputResult) -> PipelineReport:
    """A report whose plain throughput run is `run`."""
    return PipelineReport(
        started_at=datetime(2026, 11, 24, tzinfo=UTC),
        options={},
        workload={"events": run.events, "persons": 200, "mean_event_bytes": 400.0},
        throughput=run,
        quality=QualityResult(PairCounts(10, 10, 10, 100, 10, 10), 10, 10, 100, 0, 0, 0, 0, 0),
        ceiling=CeilingResult(1000, 100, 0.1, 10),
        latency=None,
        services={"kafka": "embedded tansu"},
        machine={"nproc": 2, "python": "3.12"},
    )


def table_text(report: PipelineReport) -> str:
    """The report's table as the terminal shows it."""
    console = Console(width=200, record=True)
    console.print(render_pipeline_table(report))
    return console.export_text()
