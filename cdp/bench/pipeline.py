"""`cdp bench pipeline`: synthetic customers through Kafka and the processor into Postgres.

One invocation measures, on one broker and one Postgres (embedded under a temporary CDP home
unless CDP_KAFKA_BOOTSTRAP_SERVERS and CDP_DATABASE_URL are set; the run gets its own database
and topics either way):

1. Throughput: every event of a seeded workload is put on a fresh raw topic first, then a
   processor process folds them; events/s from its first to its last committed batch, its RSS
   and the CPU of each process.
2. Identity quality: the timeline's message → profile against the person the generator used.
3. The ceiling: a bare COPY of as many rows into a temp table and one set-based upsert per batch.
4. Latency: a new topic and consumer group on the same database; events offered at a fixed rate,
   each timed from produce() to the first moment its partition's stored offset passes it.

This module runs them in turn; `cdp.bench.feed` puts the events on the topic,
`cdp.bench.throughput` and `cdp.bench.latency` run and time the processors.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
import psutil
import psycopg

from cdp.bench.definitions import apply_synthetic
from cdp.bench.environment import bench_database, run_phase, service_processes, temporary_home
from cdp.bench.errors import BenchError
from cdp.bench.feed import FeedRecord, encode_workload, produce_all
from cdp.bench.latency import LATENCY_WARMUP_EVENTS, measure_latency
from cdp.bench.pipeline_report import (
    CeilingResult,
    PipelineReport,
    QualityResult,
    ThroughputResult,
)
from cdp.bench.quality import pair_counts
from cdp.bench.repeats import median_run
from cdp.bench.report import machine_info
from cdp.bench.statements import LIBRARY, require_statements
from cdp.bench.synthetic import Workload, generate
from cdp.bench.throughput import measure_throughput
from cdp.embedded import free_port
from cdp.kafka import wait_for_broker
from cdp.schemas import codec_for
from cdp.settings import Settings, load_settings
from cdp.stack import EmbeddedServices

__all__ = ["PipelineOptions", "run_pipeline_bench"]


@dataclass(frozen=True, slots=True)
class PipelineOptions:
    """What `cdp bench pipeline` is asked to do."""

    events: int = 200_000
    persons: int = 20_000
    rate: float = 5_000.0
    """Offered events/s in the latency run."""
    latency_seconds: float = 20.0
    """Seconds of paced load in the latency run; 0 skips it."""
    batch_max: int | None = None
    """The processor's batch limit; None leaves it to the settings (CDP_PROCESSOR_BATCH_MAX)."""
    batch_wait_ms: int | None = None
    seed: int = 1
    processors: int = 1
    """Processor processes in the consumer group, each taking a share of the partitions."""
    segments: int = 0
    """Synthetic segments defined for a second throughput run (with `computed_traits`)."""
    computed_traits: int = 0
    """Synthetic computed traits defined for that second run."""
    metrics: bool = False
    """Run the throughput again with the processors' metrics scraped every second, to measure
    what observability costs (every run serves them and reads them once, at its end)."""
    compare_encryption: bool = False
    """Run the throughput again with PII encryption off, against the first run's (on)."""
    repeat: int = 1
    """Throughput runs of each side (the plain run and every comparison asked for), taken in
    turn; each side is reported by its median run (`cdp.bench.repeats`)."""
    statements: bool = False
    """Report each throughput run's Postgres time by statement (`cdp.bench.statements`)."""


def run_pipeline_bench(
    options: PipelineOptions, announce: Callable[[str], None] = print
) -> PipelineReport:
    """Start the services, run every measurement, stop everything; the figures of the run."""
    started_at = datetime.now(UTC)
    run_id = secrets.token_hex(4)
    with temporary_home() as home:
        services = EmbeddedServices(
            load_settings(home=home, embedded_kafka_port=free_port()),
            postgres_libraries=(LIBRARY,) if options.statements else (),
        )
        try:
            announce("starting Kafka and Postgres ...")
            resolved = services.start()
            wait_for_broker(resolved)
            with bench_database(resolved, f"cdp_bench_{run_id}") as settings:
                settings = _batch_settings(settings, options)
                report = _run(options, settings, services, home, run_id, started_at, announce)
        finally:
            services.stop()
    return report


def _batch_settings(settings: Settings, options: PipelineOptions) -> Settings:
    update: dict[str, object] = {}
    if options.batch_max is not None:
        update["processor_batch_max"] = options.batch_max
    if options.batch_wait_ms is not None:
        update["processor_batch_wait_ms"] = options.batch_wait_ms
    return settings.model_copy(update=update)


def _run(
    options: PipelineOptions,
    settings: Settings,
    services: EmbeddedServices,
    home: Path,
    run_id: str,
    started_at: datetime,
    announce: Callable[[str], None],
) -> PipelineReport:
    codec = codec_for(settings)
    if options.statements:
        require_statements(settings.database_dsn())
    announce(f"generating {options.events:,} events of {options.persons:,} persons ...")
    workload = generate(options.persons, options.events, options.seed)
    records = encode_workload(workload, codec)
    sizes = [len(orjson.dumps(m)) for m in workload.messages]
    watched = service_processes(services)

    external = services.broker is None
    with run_phase(settings, run_id, "throughput", external) as phased:
        announce(f"producing {len(records):,} events to {phased.topics.raw} ...")
        produce_s = produce_all(phased, records)
        announce("processor folding them ...")
        logs = home / "logs" / "throughput"
        throughput = measure_throughput(
            phased, len(records), produce_s, logs, watched, options.processors, options.statements
        )
        announce(f"{throughput.events_per_s:,.0f} events/s; scoring identity resolution ...")
        quality = measure_quality(phased, workload)

    def again(label: str, variant: Callable[[Settings], Settings]) -> ThroughputResult:
        return _measure_variant(
            label, options, settings, records, home, run_id, watched, external, variant
        )

    sides = _comparisons(options, settings)
    runs: dict[str, list[ThroughputResult]] = {"plain": [throughput], **{s: [] for s in sides}}
    for turn in range(options.repeat):
        if turn:
            announce(f"again as the first run ({turn + 1} of {options.repeat}) ...")
            runs["plain"].append(again(f"plain{turn}", _unchanged))
            announce(f"{runs['plain'][-1].events_per_s:,.0f} events/s")
        for side, (what, variant) in sides.items():
            announce(f"again {what} ...")
            runs[side].append(again(f"{side}{turn}", variant))
            announce(f"{runs[side][-1].events_per_s:,.0f} events/s {what}")
    throughput = median_run(runs["plain"])
    defined = median_run(runs["defined"]) if "defined" in runs else None
    observed = median_run(runs["metrics"]) if "metrics" in runs else None
    in_clear = median_run(runs["clear"]) if "clear" in runs else None
    announce("timing the COPY + upsert ceiling ...")
    ceiling = measure_ceiling(settings, workload, settings.processor_batch_max)
    latency = None
    if options.latency_seconds > 0:
        count = round(options.rate * options.latency_seconds) + LATENCY_WARMUP_EVENTS
        persons = max(1, round(options.persons * count / options.events))
        live = generate(persons, count, options.seed + 1, namespace="l")
        paced = encode_workload(live, codec)
        announce(
            f"latency: {options.rate:,.0f} events/s offered for {options.latency_seconds:g} s ..."
        )
        with run_phase(settings, run_id, "latency", external) as phased:
            logs = home / "logs" / "latency"
            latency = measure_latency(
                phased, paced, options.rate, logs, watched, options.processors
            )
            latency_quality = measure_quality(phased, live)
        latency = dataclasses.replace(latency, pairs=latency_quality.pairs)
    return PipelineReport(
        started_at=started_at,
        options={
            "events": options.events,
            "persons": options.persons,
            "rate": options.rate,
            "latency_seconds": options.latency_seconds,
            "batch_max": settings.processor_batch_max,
            "batch_wait_ms": settings.processor_batch_wait_ms,
            "seed": options.seed,
            "partitions": settings.topics.partitions,
            "processors": options.processors,
            "segments": options.segments,
            "computed_traits": options.computed_traits,
            "metrics": options.metrics,
            "compare_encryption": options.compare_encryption,
            "repeat": options.repeat,
            "statements": options.statements,
            "encrypt_pii": settings.privacy.encrypt_pii,
        },
        workload={
            "events": len(records),
            "persons": options.persons,
            "mean_event_bytes": sum(sizes) / len(sizes),
            "mean_record_bytes": sum(len(r.value) for r in records) / len(records),
            "shared_devices": workload.shared_devices,
        },
        throughput=throughput,
        quality=quality,
        ceiling=ceiling,
        latency=latency,
        defined=defined,
        observed=observed,
        in_clear=in_clear,
        services={
            "kafka": "embedded tansu" if services.broker is not None else "external",
            "postgres": "embedded" if services.postgres is not None else "external",
        },
        machine=machine_info(),
    )


def _measure_variant(
    label: str,
    options: PipelineOptions,
    settings: Settings,
    records: list[FeedRecord],
    home: Path,
    run_id: str,
    watched: Callable[[], dict[str, psutil.Process]],
    external: bool,
    variant: Callable[[Settings], Settings],
) -> ThroughputResult:
    """The throughput run again, on a database of its own (``cdp_bench_<run>_<label>``), with
    the settings `variant` makes of that database's (it may define things in it first)."""
    with (
        bench_database(settings, f"cdp_bench_{run_id}_{label}") as fresh,
        run_phase(variant(fresh), run_id, label, external) as phased,
    ):
        produce_s = produce_all(phased, records)
        logs = home / "logs" / label
        return measure_throughput(
            phased, len(records), produce_s, logs, watched, options.processors, options.statements
        )


def _comparisons(
    options: PipelineOptions, settings: Settings
) -> dict[str, tuple[str, Callable[[Settings], Settings]]]:
    """The variants asked for, by label: what each is (for the progress lines) and how it
    makes its settings."""
    sides: dict[str, tuple[str, Callable[[Settings], Settings]]] = {}
    if options.segments or options.computed_traits:
        what = f"with {options.segments} segments and {options.computed_traits} computed traits"
        sides["defined"] = (what, defining(options))
    if options.metrics:
        sides["metrics"] = ("with metrics scraped every second", observing)
    if options.compare_encryption:
        sides["clear"] = ("with PII encryption off", in_clear_of(settings))
    return sides


def _unchanged(fresh: Settings) -> Settings:
    return fresh


def defining(options: PipelineOptions) -> Callable[[Settings], Settings]:
    """The variant with the synthetic segments and computed traits (`cdp.bench.definitions`)
    defined before the processor starts."""

    def define(fresh: Settings) -> Settings:
        apply_synthetic(fresh, options.segments, options.computed_traits)
        return fresh

    return define


def observing(fresh: Settings) -> Settings:
    """The variant whose processors' `/metrics` (consumer lag statistics included) a
    `MetricsScraper` reads every second: a metrics port set beforehand (see
    `measure_throughput`)."""
    return fresh.model_copy(update={"metrics_port": free_port()})


def in_clear_of(settings: Settings) -> Callable[[Settings], Settings]:
    """The variant with PII encryption off (`CDP_PRIVACY__ENCRYPT_PII=false` for the
    processors): on a database of its own, as `pii_state` records a database's mode on first
    use and the processor refuses to write in clear where it was recorded encrypted."""
    if not settings.privacy.encrypt_pii:
        raise BenchError(
            "--compare-encryption compares with the first run encrypted: unset "
            "CDP_PRIVACY__ENCRYPT_PII=false"
        )
    privacy = settings.privacy.model_copy(update={"encrypt_pii": False})

    def clear(fresh: Settings) -> Settings:
        return fresh.model_copy(update={"privacy": privacy})

    return clear


def measure_quality(settings: Settings, workload: Workload) -> QualityResult:
    """Score the profiles `workload`'s events landed on against the people who produced them
    (other events in the database are left out of the pairs; the profile counts are global)."""
    truth = workload.truth_by_message_id()
    with psycopg.connect(settings.database_dsn()) as conn:
        rows = conn.execute("SELECT message_id, profile_id FROM events").fetchall()
        multi = conn.execute(
            "SELECT count(*) FROM (SELECT profile_id FROM identifiers WHERE id_type = 'user_id' "
            "GROUP BY profile_id HAVING count(*) > 1) AS m"
        ).fetchone()
        live = conn.execute("SELECT count(*) FROM profiles WHERE merged_into IS NULL").fetchone()
        merges = conn.execute("SELECT count(*) FROM merges").fetchone()
    assignments = [(profile, truth[m]) for m, profile in rows if m in truth]
    persons_of: dict[int, set[int]] = defaultdict(set)
    profiles_of: dict[int, set[int]] = defaultdict(set)
    for profile, person in assignments:
        persons_of[profile].add(person)
        profiles_of[person].add(profile)
    return QualityResult(
        pairs=pair_counts(assignments),
        persons=len(workload.persons),
        live_profiles=int(live[0]) if live else 0,
        timeline_events=len(assignments),
        multi_user_profiles=int(multi[0]) if multi else 0,
        mixed_profiles=sum(1 for people in persons_of.values() if len(people) > 1),
        split_persons=sum(1 for profiles in profiles_of.values() if len(profiles) > 1),
        merges=int(merges[0]) if merges else 0,
        shared_devices=workload.shared_devices,
    )


def measure_ceiling(settings: Settings, workload: Workload, batch: int) -> CeilingResult:
    """Rows/s of the cheapest set-based write of as many rows: per batch of `batch`, COPY
    (key, jsonb) into a temp table, then one INSERT ... SELECT ... ON CONFLICT DO UPDATE that
    merges each key's last document into a scratch table (pre-aggregated per key, as an upsert
    cannot touch a row twice). Keys are the true persons' user ids, so conflicts are as frequent
    as the processor's."""
    users = [p.user_id for p in workload.persons]
    rows = [
        (users[person], orjson.dumps(message.get("properties") or {}).decode())
        for message, person in zip(workload.messages, workload.truth, strict=True)
    ]
    with psycopg.connect(settings.database_dsn(), autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_ceiling")
        conn.execute(
            "CREATE TABLE bench_ceiling (key text PRIMARY KEY, doc jsonb NOT NULL, "
            "n integer NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())"
        )
        conn.execute(
            "CREATE TEMP TABLE bench_ceiling_in (key text, doc jsonb) ON COMMIT DELETE ROWS"
        )
        started = time.perf_counter()
        for begin in range(0, len(rows), batch):
            with conn.transaction(), conn.cursor() as cur:
                with cur.copy("COPY bench_ceiling_in (key, doc) FROM STDIN") as copy:
                    for row in rows[begin : begin + batch]:
                        copy.write_row(row)
                cur.execute(
                    "INSERT INTO bench_ceiling (key, doc, n) "
                    "SELECT key, (array_agg(doc))[count(*)], count(*) FROM bench_ceiling_in "
                    "GROUP BY key ON CONFLICT (key) DO UPDATE SET "
                    "doc = bench_ceiling.doc || EXCLUDED.doc, n = bench_ceiling.n + EXCLUDED.n, "
                    "updated_at = now()"
                )
        seconds = time.perf_counter() - started
        keys = conn.execute("SELECT count(*) FROM bench_ceiling").fetchone()
        conn.execute("DROP TABLE bench_ceiling")
    return CeilingResult(len(rows), batch, seconds, int(keys[0]) if keys else 0)
