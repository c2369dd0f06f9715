"""The ingest report with several collector workers: per-worker CPU and the collector's total."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from rich.console import Console

from cdp.bench.loadgen import LoadConfig, LoadResult, Tally
from cdp.bench.report import IngestReport, render_table


def report(cpu: dict[str, float], workers: int) -> IngestReport:
    tally = Tally(accepted=200, latencies_ns=[1_000_000] * 200)
    return IngestReport(
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
        config=LoadConfig("127.0.0.1", 1, "wk", "run"),
        load=LoadResult(tally, 10.0, 30_000, 300.0),
        cpu=cpu,
        services={"kafka": "external"},
        machine={"nproc": 2, "python": "3.11"},
        workers=workers,
    )


def test_collector_cpu_adds_up_the_supervisor_and_its_workers() -> None:
    cpu = {
        "collector": 0.01,
        "collector worker 1": 0.7,
        "collector worker 2": 0.6,
        "broker": 0.2,
        "others": 0.1,
        "machine": 1.61,
    }
    two = report(cpu, workers=2)
    assert two.collector_cpu == pytest.approx(1.31)
    document = two.as_json()
    assert document["collector_workers"] == 2
    assert document["collector_cpu_cores"] == 1.31
    console = Console(width=120, record=True)
    console.print(render_table(two))
    text = console.export_text()
    assert "collector worker 2" in text
    assert "CPU collector, all processes" in text


def test_one_worker_reports_as_before() -> None:
    one = report({"collector": 1.0, "others": 0.1, "machine": 1.1}, workers=1)
    assert one.collector_cpu == 1.0
    console = Console(width=120, record=True)
    console.print(render_table(one))
    assert "all processes" not in console.export_text()
