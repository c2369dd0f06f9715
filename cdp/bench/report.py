"""The figures of an ingest run: derived rates, a table for people and a JSON file for later."""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psutil
from rich.table import Table

from cdp.bench.loadgen import LoadConfig, LoadResult
from cdp.bench.output import render_rows, rounded, write_json
from cdp.bench.stats import percentile

__all__ = ["GOAL_EVENTS_PER_S", "IngestReport", "machine_info", "render_table", "write_report"]

#: The issue's goal for one collector on this 2-core machine, load generator and broker included.
GOAL_EVENTS_PER_S = 20_000
CPU_LABELS = {"others": "other processes", "machine": "whole machine"}


@dataclass(frozen=True, slots=True)
class IngestReport:
    """One run: what was asked, what the load generator saw, and the CPU each process used."""

    started_at: datetime
    config: LoadConfig
    load: LoadResult
    cpu: dict[str, float]
    services: dict[str, str]
    machine: dict[str, object]
    workers: int = 1
    """Collector worker processes sharing the port."""

    @property
    def collector_cpu(self) -> float:
        """CPU of every collector process together (supervisor and workers), in cores."""
        return sum(share for name, share in self.cpu.items() if name.startswith("collector"))

    @property
    def events_per_s(self) -> float:
        """Events in requests answered 200 inside the window, per second of the window."""
        return self.load.tally.accepted * self.config.batch_size / self.load.window_s

    @property
    def requests_per_s(self) -> float:
        """Every request answered inside the window, whatever its status, per second."""
        answered = self.load.tally.accepted + sum(self.load.tally.statuses.values())
        return answered / self.load.window_s

    def latency_ms(self) -> dict[str, float | None]:
        """p50, p99 and max of the accepted requests' latencies, in milliseconds."""
        values = self.load.tally.latencies_ns
        return {
            name: None if ns is None else ns / 1e6
            for name, ns in (
                ("p50", percentile(values, 50)),
                ("p99", percentile(values, 99)),
                ("max", percentile(values, 100)),
            )
        }

    def as_json(self) -> dict[str, object]:
        tally = self.load.tally
        return {
            "benchmark": "ingest",
            "started_at": self.started_at.isoformat(),
            "events_per_s": round(self.events_per_s, 1),
            "requests_per_s": round(self.requests_per_s, 1),
            "goal_events_per_s": GOAL_EVENTS_PER_S,
            "goal_met": self.events_per_s >= GOAL_EVENTS_PER_S,
            "latency_ms": rounded(self.latency_ms(), 3),
            "accepted_requests": tally.accepted,
            "accepted_events": tally.accepted * self.config.batch_size,
            "non_200": {str(status): n for status, n in sorted(tally.statuses.items())},
            "transport_errors": dict(sorted(tally.errors.items())),
            "items_rejected_in_200": tally.rejected_items,
            "cpu_cores": rounded(self.cpu, 3),
            "collector_workers": self.workers,
            "collector_cpu_cores": round(self.collector_cpu, 3),
            "batch_size": self.config.batch_size,
            "event_bytes": round(self.load.event_bytes, 1),
            "event_bytes_target": self.config.event_bytes,
            "body_bytes": self.load.body_bytes,
            "connections": self.config.connections,
            "duration_s": self.config.duration_s,
            "warmup_s": self.config.warmup_s,
            "services": self.services,
            "machine": self.machine,
        }


def machine_info() -> dict[str, object]:
    """What the figures depend on: cores, memory, Python and the OS."""
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def write_report(report: IngestReport, directory: Path) -> Path:
    """Write the JSON document to `directory`/ingest-<UTC timestamp>.json and return the path."""
    return write_json("ingest", report.started_at, report.as_json(), directory)


def render_table(report: IngestReport) -> Table:
    """The figures as two columns, the goal verdict first."""
    return render_rows("ingest", _rows(report))


def _rows(report: IngestReport) -> list[tuple[str, str]]:
    config, tally = report.config, report.load.tally
    verdict = "met" if report.events_per_s >= GOAL_EVENTS_PER_S else "[red]NOT met[/red]"
    goal = f"(goal {GOAL_EVENTS_PER_S:,}: {verdict})"
    latency = report.latency_ms()
    return [
        ("accepted events/s", f"{report.events_per_s:,.0f}  {goal}"),
        ("requests/s", f"{report.requests_per_s:,.1f}"),
        ("latency p50 / p99 / max", " / ".join(_ms(latency[k]) for k in ("p50", "p99", "max"))),
        ("non-200 responses", _counts(tally.statuses) or "none"),
        ("transport errors", _counts(tally.errors) or "none"),
        ("items rejected in 200s", str(tally.rejected_items)),
        ("collector workers", str(report.workers)),
        *_cpu_rows(report.cpu),
        *([("CPU collector, all processes", f"{report.collector_cpu:.2f} cores")]
          if report.workers > 1 else []),
        ("batch", f"{config.batch_size} events x {report.load.event_bytes:.0f} B"
                  f" = {report.load.body_bytes:,} B body"),
        ("load", f"{config.connections} connections, {config.duration_s:g} s measured"
                 f" after {config.warmup_s:g} s warm-up"),
        ("services", ", ".join(f"{k} {v}" for k, v in report.services.items())),
        ("machine", f"{report.machine['nproc']} cores, Python {report.machine['python']}"),
    ]  # fmt: skip


def _cpu_rows(cpu: Mapping[str, float]) -> list[tuple[str, str]]:
    return [
        (f"CPU {CPU_LABELS.get(name, name)}", f"{share:.2f} cores") for name, share in cpu.items()
    ]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _counts(counts: Mapping[int, int] | Mapping[str, int]) -> str:
    return ", ".join(
        f"{key}: {n:,}" for key, n in sorted(counts.items(), key=lambda kv: str(kv[0]))
    )
