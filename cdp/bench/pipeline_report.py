"""The figures of a pipeline run: a table for people and a JSON file for later."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from rich.table import Table

from cdp.bench.output import render_rows, rounded, verdict, write_json
from cdp.bench.quality import PairCounts
from cdp.bench.statements import StatementTime
from cdp.profiles.observability import STEPS

__all__ = [
    "GOAL_ENCRYPTION_SLOWDOWN",
    "GOAL_EVENTS_PER_S",
    "GOAL_P99_MS",
    "GOAL_PRECISION",
    "GOAL_RECALL",
    "CeilingResult",
    "LatencyResult",
    "PipelineReport",
    "QualityResult",
    "ThroughputResult",
    "render_pipeline_table",
    "write_pipeline_report",
]

#: The issue's goals on this 2-core machine, broker and Postgres included.
GOAL_EVENTS_PER_S = 25_000
GOAL_P99_MS = 1_000.0
GOAL_PRECISION = 0.999
GOAL_RECALL = 0.99
#: PII encryption may cost at most this share of the events/s of the same run in clear.
GOAL_ENCRYPTION_SLOWDOWN = 0.15
MIB = 2**20


@dataclass(frozen=True, slots=True)
class ThroughputResult:
    """The processor folding a topic that already held every event."""

    events: int
    produce_s: float
    """Putting the events on the topic, before the processor started."""
    measured_events: int
    """Events applied between the first and the last observation (the first batch excluded)."""
    measured_s: float
    rss_first: int
    """Processor RSS (bytes), its child processes included, when its first batch was observed
    applied."""
    rss_peak: int
    rss_end: int
    cpu: dict[str, float]
    batches: int | None = None
    runs: tuple[float, ...] = ()
    """Events/s of every run of this side when it was measured more than once (`--repeat`):
    this result is then their median run (`cdp.bench.repeats.median_run`)."""
    probe_s: tuple[float, ...] = ()
    """`cdp.bench.probe.speed_probe` just before and just after the run (CPU-s, lower is
    faster)."""
    run_probes: tuple[tuple[float, ...], ...] = ()
    """`probe_s` of every run, as `runs`."""
    steps: dict[str, float] = field(default_factory=dict)
    """Mean ms per batch of each step of the processors (`cdp.bench.steps`), over the run."""
    rows: dict[str, int] = field(default_factory=dict)
    """Rows inserted, updated or deleted per table over the whole run (`cdp.bench.rows`)."""
    deferred: int = 0
    """Times the processors deferred an event to their next batch because another one held its
    locks (`cdp.profiles.contention`), over the whole run; one event may count several times."""
    statements: tuple[StatementTime, ...] = ()
    """Postgres's execution time by statement over the whole run, largest first, when asked for
    (`cdp.bench.statements`)."""

    def rows_per_1000(self) -> dict[str, float]:
        """`rows` per 1,000 of the run's events, largest first."""
        if self.events <= 0:
            return {}
        ranked = sorted(self.rows.items(), key=lambda item: (-item[1], item[0]))
        return {table: count * 1000 / self.events for table, count in ranked}

    @property
    def events_per_s(self) -> float:
        return self.measured_events / self.measured_s if self.measured_s > 0 else 0.0

    def statements_per_1000(self) -> list[tuple[StatementTime, float, float]]:
        """Each of `statements` with its ms per 1,000 of the run's events and its share of all
        the statements' time."""
        total = sum(s.ms for s in self.statements)
        if self.events <= 0 or total <= 0:
            return []
        return [(s, s.ms * 1000 / self.events, s.ms / total) for s in self.statements]

    def cpu_s_per_1000(self, name: str) -> float:
        """CPU-seconds the processes `name` (processor, postgres) spent per 1,000 events: less
        sensitive than events/s to other load on a shared machine."""
        if self.measured_events <= 0:
            return 0.0
        return self.cpu.get(name, 0.0) * self.measured_s / self.measured_events * 1000


@dataclass(frozen=True, slots=True)
class LatencyResult:
    """Events offered at a fixed rate, each timed from produce() to its batch's commit."""

    offered_rate: float
    achieved_rate: float
    events: int
    latencies_ms: dict[str, float | None]
    poll_interval_ms: float
    rss_peak: int
    cpu: dict[str, float]
    pairs: PairCounts | None = None
    """Identity resolution of the paced events, which arrive in live order: each partition
    close to event time, unlike the throughput run's backlog, read partition after partition."""


@dataclass(frozen=True, slots=True)
class CeilingResult:
    """A bare COPY into a temp table plus one set-based upsert per batch, on the same Postgres."""

    rows: int
    batch: int
    seconds: float
    keys: int

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True, slots=True)
class QualityResult:
    """Identity resolution against the generator's truth."""

    pairs: PairCounts
    persons: int
    live_profiles: int
    timeline_events: int
    multi_user_profiles: int
    """Profiles holding two or more user_ids: must be 0."""
    mixed_profiles: int
    """Profiles with events of more than one person."""
    split_persons: int
    """People whose events are on more than one profile."""
    merges: int
    shared_devices: int


@dataclass(frozen=True, slots=True)
class PipelineReport:
    """One run of `cdp bench pipeline`."""

    started_at: datetime
    options: dict[str, object]
    workload: dict[str, object]
    throughput: ThroughputResult
    quality: QualityResult
    ceiling: CeilingResult
    latency: LatencyResult | None
    services: dict[str, str]
    machine: dict[str, object]
    defined: ThroughputResult | None = None
    """The throughput run with synthetic segments and computed traits defined (None: not run)."""
    observed: ThroughputResult | None = None
    """The throughput run with metrics scraped every second (None: not run)."""
    in_clear: ThroughputResult | None = None
    """The throughput run with PII encryption off (None: not run); `throughput` is encrypted."""

    @property
    def encryption_slowdown(self) -> float | None:
        """How much fewer events/s the encrypted run made than the run in clear."""
        if self.in_clear is None or not self.in_clear.events_per_s:
            return None
        return 1 - self.throughput.events_per_s / self.in_clear.events_per_s

    @property
    def ceiling_ratio(self) -> float:
        """End-to-end events/s over the bare COPY + upsert rows/s."""
        ceiling = self.ceiling.rows_per_s
        return self.throughput.events_per_s / ceiling if ceiling else 0.0

    def goals(self) -> dict[str, bool | None]:
        q = self.quality
        p99 = self.latency.latencies_ms.get("p99") if self.latency else None
        return {
            "events_per_s": self.throughput.events_per_s >= GOAL_EVENTS_PER_S,
            "p99_latency": None if p99 is None else p99 < GOAL_P99_MS,
            "precision": q.pairs.precision >= GOAL_PRECISION,
            "recall": q.pairs.recall >= GOAL_RECALL,
            "no_multi_user_profiles": q.multi_user_profiles == 0,
        } | (
            {}
            if self.encryption_slowdown is None
            else {"encryption_slowdown": self.encryption_slowdown <= GOAL_ENCRYPTION_SLOWDOWN}
        )

    def as_json(self) -> dict[str, object]:
        t, q, c = self.throughput, self.quality, self.ceiling
        return {
            "benchmark": "pipeline",
            "started_at": self.started_at.isoformat(),
            "goals_met": self.goals(),
            "throughput": {
                "events_per_s": round(t.events_per_s, 1),
                "goal_events_per_s": GOAL_EVENTS_PER_S,
                "events": t.events,
                "measured_events": t.measured_events,
                "measured_s": round(t.measured_s, 3),
                "produce_s": round(t.produce_s, 3),
                "processor_rss_mib": {
                    "first_batch": round(t.rss_first / MIB, 1),
                    "peak": round(t.rss_peak / MIB, 1),
                    "end": round(t.rss_end / MIB, 1),
                },
                "cpu_cores": rounded(t.cpu, 3),
                **_runs_json(t),
            },
            "latency": None if self.latency is None else _latency_json(self.latency),
            "defined": None if self.defined is None else _defined_json(t, self.defined),
            "metrics": None if self.observed is None else _defined_json(t, self.observed),
            "encryption": None if self.in_clear is None else _encryption_json(self.in_clear, t),
            "ceiling": {
                "rows_per_s": round(c.rows_per_s, 1),
                "rows": c.rows,
                "batch_rows": c.batch,
                "keys": c.keys,
                "seconds": round(c.seconds, 3),
                "pipeline_over_ceiling": round(self.ceiling_ratio, 4),
            },
            "quality": {
                "precision": round(q.pairs.precision, 6),
                "recall": round(q.pairs.recall, 6),
                "goal_precision": GOAL_PRECISION,
                "goal_recall": GOAL_RECALL,
                "pairs": asdict(q.pairs),
                "persons": q.persons,
                "live_profiles": q.live_profiles,
                "profiles_with_events": q.pairs.clusters,
                "timeline_events": q.timeline_events,
                "multi_user_profiles": q.multi_user_profiles,
                "mixed_profiles": q.mixed_profiles,
                "split_persons": q.split_persons,
                "merges": q.merges,
                "shared_devices": q.shared_devices,
            },
            "options": self.options,
            "workload": self.workload,
            "services": self.services,
            "machine": self.machine,
        }


def _defined_json(base: ThroughputResult, defined: ThroughputResult) -> dict[str, object]:
    return {
        "events_per_s": round(defined.events_per_s, 1),
        "slowdown": round(1 - defined.events_per_s / base.events_per_s, 4)
        if base.events_per_s
        else None,
        "measured_events": defined.measured_events,
        "measured_s": round(defined.measured_s, 3),
        "cpu_cores": rounded(defined.cpu, 3),
        **_runs_json(defined),
        "cpu_s_per_1000_events": {
            name: {
                "without": round(base.cpu_s_per_1000(name), 4),
                "with": round(defined.cpu_s_per_1000(name), 4),
            }
            for name in ("processor", "postgres")
        },
    }


def _encryption_json(clear: ThroughputResult, encrypted: ThroughputResult) -> dict[str, object]:
    """The run in clear as the baseline and the encrypted run as the one "with"."""
    out = _defined_json(clear, encrypted)
    return {
        "events_per_s_off": round(clear.events_per_s, 1),
        "events_per_s_on": out.pop("events_per_s"),
        **out,
        "goal_max_slowdown": GOAL_ENCRYPTION_SLOWDOWN,
        "off_measured_events": clear.measured_events,
        "off_cpu_cores": rounded(clear.cpu, 3),
        **{f"off_{k}": v for k, v in _runs_json(clear).items()},
    }


def _runs_json(result: ThroughputResult) -> dict[str, object]:
    """The speed probes of the run, and the events/s and probes of each run of a repeated
    side."""
    out: dict[str, object] = {"speed_probe_s": [round(p, 3) for p in result.probe_s]}
    if result.steps:
        out["batch_ms_by_step"] = rounded(result.steps, 1)
    if result.rows:
        out["rows_written"] = result.rows
    if result.deferred:
        out["deferrals"] = result.deferred
    if result.statements:
        out["postgres_statements"] = [
            {**asdict(s), "ms": round(s.ms, 1), "ms_per_1000_events": round(per, 2),
             "share": round(share, 4)}
            for s, per, share in result.statements_per_1000()
        ]  # fmt: skip
    if result.runs:
        out["runs_events_per_s"] = [round(r, 1) for r in result.runs]
        out["runs_speed_probe_s"] = [[round(p, 3) for p in pair] for pair in result.run_probes]
    return out


def _latency_json(latency: LatencyResult) -> dict[str, object]:
    return {
        "offered_rate": latency.offered_rate,
        "achieved_rate": round(latency.achieved_rate, 1),
        "events": latency.events,
        "ms": rounded(latency.latencies_ms, 1),
        "goal_p99_ms": GOAL_P99_MS,
        "poll_interval_ms": latency.poll_interval_ms,
        "processor_rss_peak_mib": round(latency.rss_peak / MIB, 1),
        "cpu_cores": rounded(latency.cpu, 3),
        "precision": None if latency.pairs is None else round(latency.pairs.precision, 6),
        "recall": None if latency.pairs is None else round(latency.pairs.recall, 6),
    }


def write_pipeline_report(report: PipelineReport, directory: Path) -> Path:
    """Write the JSON document to `directory`/pipeline-<UTC timestamp>.json; the path."""
    return write_json("pipeline", report.started_at, report.as_json(), directory)


def render_pipeline_table(report: PipelineReport) -> Table:
    """The figures as two columns, each goal's verdict next to its figure."""
    return render_rows("pipeline", _rows(report))


def _rows(report: PipelineReport) -> list[tuple[str, str]]:
    t, q, c, goals = report.throughput, report.quality, report.ceiling, report.goals()
    rows = [
        ("end-to-end events/s", f"{t.events_per_s:,.0f}  "
                                + verdict(goals["events_per_s"], f"{GOAL_EVENTS_PER_S:,}")),
        *_runs_rows("  runs (median shown)", t),
        ("  measured", f"{t.measured_events:,} events in {t.measured_s:.2f} s"
                       f" (of {t.events:,}; produced beforehand in {t.produce_s:.1f} s)"),
        ("processor RSS first / peak / end", " / ".join(
            f"{v / MIB:.0f} MiB" for v in (t.rss_first, t.rss_peak, t.rss_end))),
        *[(f"  CPU {name}", f"{share:.2f} cores") for name, share in t.cpu.items()],
        ("COPY + upsert ceiling", f"{c.rows_per_s:,.0f} rows/s ({c.rows:,} rows, batches of"
                                  f" {c.batch:,}, {c.keys:,} keys)"),
        ("pipeline / ceiling", f"{report.ceiling_ratio:.2f}"),
    ]  # fmt: skip
    if report.defined is not None:
        d, o = report.defined, report.options
        slower = 1 - d.events_per_s / t.events_per_s if t.events_per_s else 0.0
        rows += [
            (f"with {o['segments']} segments, {o['computed_traits']} computed traits",
             f"{d.events_per_s:,.0f} events/s ({slower:+.1%} slower; goal at most 20%)"),
            *_runs_rows("  runs with them", d),
            *[(f"  CPU-s per 1,000 events, {name}",
               f"{t.cpu_s_per_1000(name):.3f} without, {d.cpu_s_per_1000(name):.3f} with")
              for name in ("processor", "postgres")],
        ]  # fmt: skip
    if report.observed is not None:
        m = report.observed
        slower = 1 - m.events_per_s / t.events_per_s if t.events_per_s else 0.0
        rows += [
            ("with metrics scraped every 1 s",
             f"{m.events_per_s:,.0f} events/s ({slower:+.1%} slower; goal under 5%)"),
            *_runs_rows("  runs with them", m),
            *[(f"  CPU-s per 1,000 events, {name}",
               f"{t.cpu_s_per_1000(name):.3f} without, {m.cpu_s_per_1000(name):.3f} with")
              for name in ("processor", "postgres")],
        ]  # fmt: skip
    if report.in_clear is not None:
        off, slower = report.in_clear, report.encryption_slowdown or 0.0
        rows += [
            ("PII encryption off / on",
             f"{off.events_per_s:,.0f} / {t.events_per_s:,.0f} events/s ({slower:+.1%} slower)  "
             + verdict(goals["encryption_slowdown"], f"at most {GOAL_ENCRYPTION_SLOWDOWN:.0%}")),
            *_runs_rows("  runs in clear", off),
            *[(f"  CPU-s per 1,000 events, {name}",
               f"{off.cpu_s_per_1000(name):.3f} off, {t.cpu_s_per_1000(name):.3f} on")
              for name in ("processor", "postgres")],
        ]  # fmt: skip
    if report.latency is not None:
        lat = report.latency
        ms = lat.latencies_ms
        rows += [
            ("latency p50 / p99 / max", " / ".join(_ms(ms[k]) for k in ("p50", "p99", "max"))
                                        + "  " + verdict(goals["p99_latency"], "p99 < 1 s")),
            ("  offered", f"{lat.offered_rate:,.0f} events/s (achieved {lat.achieved_rate:,.0f},"
                          f" {lat.events:,} events, offsets polled every {lat.poll_interval_ms:g} ms)"),
            *[(f"  CPU {name}", f"{share:.2f} cores") for name, share in lat.cpu.items()],
            *([("  precision / recall, live order",
                f"{lat.pairs.precision:.5f} / {lat.pairs.recall:.5f}")] if lat.pairs else []),
        ]  # fmt: skip
    rows += [
        ("identity precision (backlog)", f"{q.pairs.precision:.5f}  "
                               + verdict(goals["precision"], f">= {GOAL_PRECISION}")),
        ("identity recall (backlog)", f"{q.pairs.recall:.5f}  " + verdict(goals["recall"], f">= {GOAL_RECALL}")),
        ("profiles with two user_ids", f"{q.multi_user_profiles}  "
                                       + verdict(goals["no_multi_user_profiles"], "0")),
        ("profiles / persons", f"{q.live_profiles:,} live ({q.pairs.clusters:,} with events)"
                               f" / {q.persons:,}"),
        ("  mixed profiles / split persons", f"{q.mixed_profiles:,} / {q.split_persons:,}"),
        ("  merges, shared devices", f"{q.merges:,}, {q.shared_devices:,}"),
        ("  timeline events", f"{q.timeline_events:,} of {t.events:,}"),
        ("workload", f"{report.workload['events']:,} events of {report.workload['persons']:,}"
                     f" persons, {report.workload['mean_event_bytes']:.0f} B JSON each"),
        ("services", ", ".join(f"{k} {v}" for k, v in report.services.items())),
        ("machine", f"{report.machine['nproc']} cores, Python {report.machine['python']}"),
    ]  # fmt: skip
    return rows


def _runs_rows(label: str, result: ThroughputResult) -> list[tuple[str, str]]:
    """The events/s of each run of a repeated side, and the speed probes of each run."""
    rows = []
    if result.runs:
        rows.append((label, ", ".join(f"{r:,.0f}" for r in result.runs) + " events/s"))
    probes = result.run_probes or ((result.probe_s,) if result.probe_s else ())
    if probes:
        rows.append(
            (
                "  speed probe before / after",
                ", ".join(" / ".join(f"{p:.2f}" for p in pair) for pair in probes)
                + " CPU-s (lower: faster)",
            )
        )
    if result.steps:
        rows.append(("  batch time by step (mean)", _steps_text(result.steps)))
    if result.rows:
        rows.append(("  rows written per 1,000 events", _rows_text(result.rows_per_1000())))
    if result.deferred:
        per_1000 = 1000 * result.deferred / result.events
        rows.append(
            (
                "  deferrals (locks busy)",
                f"{result.deferred:,} ({per_1000:.1f} per 1,000 events)",
            )
        )
    return rows + _statement_rows(result)


def _statement_rows(result: ThroughputResult) -> list[tuple[str, str]]:
    """Postgres's time by statement: its total, then a line per statement."""
    found = result.statements_per_1000()
    if not found:
        return []
    total = sum(per for _, per, _ in found)
    rows = [("  Postgres time by statement", f"{total:,.1f} ms per 1,000 events in all")]
    for s, per, share in found:
        rows.append((f"    {share:6.1%}  {per:5.1f} ms", f"{s.statement} ({s.calls:,} calls)"))
    return rows


def _rows_text(per_1000: dict[str, float]) -> str:
    """The total, then each table that wrote at least one row per 1,000 events."""
    shown = ", ".join(f"{table} {n:,.0f}" for table, n in per_1000.items() if n >= 1)
    return f"{sum(per_1000.values()):,.0f}: {shown}"


def _steps_text(steps: dict[str, float]) -> str:
    """The steps of the applying thread in batch order, then `prepare` (its own thread)."""
    ordered = [s for s in STEPS if s in steps] + sorted(set(steps) - set(STEPS))
    return (
        ", ".join(
            f"{step} {steps[step]:.0f}" + (" (in parallel)" if step == "prepare" else "")
            for step in ordered
        )
        + " ms"
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"
