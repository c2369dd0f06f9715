"""The figures of an activation run: a table for people and a JSON file for later."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rich.table import Table

from cdp.bench.backfill import BackfillResult
from cdp.bench.membership_latency import LatencyResult
from cdp.bench.output import render_rows, rounded, verdict, write_json

__all__ = [
    "GOAL_BACKFILL_PER_S",
    "GOAL_P99_MS",
    "ActivationReport",
    "load_average",
    "render_activation_table",
    "write_activation_report",
]

#: The issue's goals: a membership change on Kafka within 2 s (p99) of its event at 5,000
#: events/s, and a new segment backfilled at 50,000 profiles/s or more.
GOAL_P99_MS = 2_000.0
GOAL_BACKFILL_PER_S = 50_000.0


@dataclass(frozen=True, slots=True)
class ActivationReport:
    """One run of `cdp bench activation`."""

    started_at: datetime
    options: dict[str, object]
    latency: LatencyResult | None
    backfill: BackfillResult | None
    services: dict[str, str]
    machine: dict[str, object]
    load_average: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def goals(self) -> dict[str, bool | None]:
        p99 = self.latency.latencies_ms.get("p99") if self.latency else None
        rate = self.backfill.profiles_per_s if self.backfill else None
        return {
            "p99_latency": None if p99 is None else p99 < GOAL_P99_MS,
            "backfill_per_s": None if rate is None else rate >= GOAL_BACKFILL_PER_S,
        }

    def as_json(self) -> dict[str, object]:
        lat, bf = self.latency, self.backfill
        return {
            "benchmark": "activation",
            "started_at": self.started_at.isoformat(),
            "goals_met": self.goals(),
            "latency": None
            if lat is None
            else {
                "offered_rate": lat.offered_rate,
                "achieved_rate": round(lat.achieved_rate, 1),
                "events": lat.events,
                "expected_changes": lat.expected_changes,
                "matched_changes": lat.matched_changes,
                "unexpected_changes": lat.unexpected_changes,
                "ms": rounded(lat.latencies_ms, 1),
                "to_outbox_ms": rounded(lat.to_outbox_ms, 1),
                "outbox_to_kafka_ms": rounded(lat.outbox_to_kafka_ms, 1),
                "p99_ms_by_segment": rounded(lat.by_segment_p99_ms, 1),
                "goal_p99_ms": GOAL_P99_MS,
                "relay_poll_ms": lat.relay_poll_ms,
                "processor_batch_wait_ms": lat.batch_wait_ms,
                "cpu_cores": rounded(_grouped(lat.cpu), 3),
            },
            "backfill": None
            if bf is None
            else {
                "profiles_per_s": round(bf.profiles_per_s, 1),
                "goal_profiles_per_s": GOAL_BACKFILL_PER_S,
                "profiles": bf.profiles,
                "evaluated": bf.evaluated,
                "expected_members": bf.expected_members,
                "members": bf.members,
                "outbox_rows": bf.outbox_rows,
                "seconds": round(bf.seconds, 3),
                "load_s": round(bf.load_s, 3),
                "cpu_cores": rounded(_grouped(bf.cpu), 3),
            },
            "options": self.options,
            "services": self.services,
            "machine": {**self.machine, "load_average": self.load_average},
        }


def load_average() -> tuple[float, float, float]:
    """The machine's 1, 5 and 15 minute load averages, to judge how noisy a run was."""
    return os.getloadavg()


def write_activation_report(report: ActivationReport, directory: Path) -> Path:
    """Write the JSON document to `directory`/activation-<UTC timestamp>.json; the path."""
    return write_json("activation", report.started_at, report.as_json(), directory)


def render_activation_table(report: ActivationReport) -> Table:
    """The figures as two columns, each goal's verdict next to its figure."""
    return render_rows("activation", _rows(report))


def _rows(report: ActivationReport) -> list[tuple[str, str]]:
    goals = report.goals()
    rows: list[tuple[str, str]] = []
    if (lat := report.latency) is not None:
        ms = lat.latencies_ms
        rows += [
            ("membership latency p50 / p99 / max", " / ".join(_ms(ms[k]) for k in ("p50", "p99", "max"))
                                                   + "  " + verdict(goals["p99_latency"], "p99 < 2 s")),
            ("  event → outbox row p50 / p99", " / ".join(_ms(lat.to_outbox_ms[k]) for k in ("p50", "p99"))),
            ("  outbox row → consumer p50 / p99", " / ".join(_ms(lat.outbox_to_kafka_ms[k]) for k in ("p50", "p99"))),
            ("  p99 by segment", ", ".join(f"{k} {_ms(v)}" for k, v in lat.by_segment_p99_ms.items())),
            ("  offered", f"{lat.offered_rate:,.0f} events/s (achieved {lat.achieved_rate:,.0f},"
                          f" {lat.events:,} events)"),
            ("  changes matched", f"{lat.matched_changes:,} of {lat.expected_changes:,}"
                                  f" ({lat.unexpected_changes:,} unexpected)"),
            ("  relay poll / processor batch wait", f"{lat.relay_poll_ms} ms / {lat.batch_wait_ms} ms"),
            *[(f"  CPU {name}", f"{share:.2f} cores") for name, share in _grouped(lat.cpu).items()],
        ]  # fmt: skip
    if (bf := report.backfill) is not None:
        rows += [
            ("backfill profiles/s", f"{bf.profiles_per_s:,.0f}  "
                                    + verdict(goals["backfill_per_s"], f">= {GOAL_BACKFILL_PER_S:,.0f}")),
            ("  evaluated", f"{bf.evaluated:,} profiles in {bf.seconds:.2f} s (loaded in {bf.load_s:.1f} s)"),
            ("  members / expected", f"{bf.members:,} / {bf.expected_members:,}"
                                     f" ({bf.outbox_rows:,} outbox rows)"),
            *[(f"  CPU {name}", f"{share:.2f} cores") for name, share in _grouped(bf.cpu).items()],
        ]  # fmt: skip
    rows += [
        ("services", ", ".join(f"{k} {v}" for k, v in report.services.items())),
        ("machine", f"{report.machine['nproc']} cores, Python {report.machine['python']},"
                    f" load average {' '.join(f'{v:.2f}' for v in report.load_average)}"),
    ]  # fmt: skip
    return rows


def _grouped(cpu: Mapping[str, float]) -> dict[str, float]:
    """CPU shares with every Postgres process summed into one `postgres` figure."""
    shares: dict[str, float] = {}
    for name, share in cpu.items():
        key = "postgres" if name.startswith("postgres") else name
        shares[key] = shares.get(key, 0.0) + share
    return shares


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"
