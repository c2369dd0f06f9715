"""`cdp bench pipeline` at a tiny scale, on the session's broker and Postgres."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from cdp.bench.pipeline import PipelineOptions, run_pipeline_bench
from cdp.bench.pipeline_report import render_pipeline_table, write_pipeline_report

pytestmark = pytest.mark.integration

EVENTS = 3_000
#: Small batches, so that a run is many batches (the first one is not timed).
BATCH_MAX = 300
APPLYING = {"load", "fold", "write", "computed_traits", "segments", "commit"}


@pytest.mark.usefixtures("session_services")
def test_the_pipeline_bench_reports_throughput_latency_quality_and_time_by_step(
    tmp_path: Path,
) -> None:
    options = PipelineOptions(
        events=EVENTS,
        persons=300,
        rate=500.0,
        latency_seconds=1.0,
        batch_max=BATCH_MAX,
        seed=7,
        segments=5,
        computed_traits=3,
    )

    report = run_pipeline_bench(options, announce=lambda _: None)

    plain, defined = report.throughput, report.defined
    assert defined is not None
    for run in (plain, defined):
        assert 0 < run.measured_events < run.events == report.workload["events"]
        assert run.events_per_s > 0
        assert set(run.steps) == APPLYING | {"prepare"}
        assert all(ms >= 0 for ms in run.steps.values())
    assert report.quality.timeline_events == plain.events
    for run in (plain, defined):
        assert run.rows["processed_messages"] == run.events, "each messageId recorded once"
        assert run.rows["events"] >= run.events
    for table in ("computed_trait_values", "segment_memberships"):
        assert table not in plain.rows
        assert defined.rows[table] > 0
    assert report.quality.multi_user_profiles == 0
    assert report.quality.pairs.precision > 0.99
    latency = report.latency
    assert latency is not None
    assert latency.events >= 500, "one second at 500 events/s, after the warm-up"
    p50, p99 = latency.latencies_ms["p50"], latency.latencies_ms["p99"]
    assert p50 is not None
    assert p99 is not None
    assert 0 < p50 <= p99 < 60_000

    written = orjson.loads(write_pipeline_report(report, tmp_path).read_bytes())
    assert set(written["throughput"]["batch_ms_by_step"]) == APPLYING | {"prepare"}
    assert set(written["defined"]["batch_ms_by_step"]) == APPLYING | {"prepare"}
    assert written["defined"]["rows_written"] == defined.rows
    assert render_pipeline_table(report).row_count > 10
