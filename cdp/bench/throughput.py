"""Processors folding a topic: started as child processes, watched, and timed."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import psycopg

from cdp.bench.errors import BenchError
from cdp.bench.pipeline_report import ThroughputResult
from cdp.bench.probe import speed_probe
from cdp.bench.processor import ProcessorProcess
from cdp.bench.rows import rows_written
from cdp.bench.scraper import MetricsScraper
from cdp.bench.stall import StallWatch
from cdp.bench.statements import statement_times
from cdp.bench.stats import CpuSample, cpu_shares, sample_cpu
from cdp.bench.steps import read_metrics
from cdp.embedded import free_port
from cdp.settings import Settings

__all__ = [
    "applied_offsets",
    "checkpoint",
    "grouped_shares",
    "measure_throughput",
    "rss_of",
    "start_processors",
    "wait_applied",
    "watched",
]

#: How often the applied count is read during the throughput run: fine enough that the
#: first and last batch are timed to a few percent of a run of several seconds.
THROUGHPUT_POLL_S = 0.05
#: No progress for this long means the processor is stuck; the run fails instead of hanging.
STALL_S = 120.0


def applied_offsets(conn: psycopg.Connection[Any], settings: Settings) -> dict[int, int]:
    """The next offset to apply per partition, as the processor stored it in Postgres."""
    rows = conn.execute(
        "SELECT partition, next_offset FROM consumer_offsets WHERE consumer_group = %s "
        "AND topic = %s",
        (settings.processor_group, settings.topics.raw),
    ).fetchall()
    return {int(p): int(o) for p, o in rows}


def grouped_shares(before: CpuSample, after: CpuSample) -> dict[str, float]:
    """CPU shares with every Postgres process summed into one `postgres` figure, and every
    processor into one `processor` figure."""
    shares: dict[str, float] = {}
    for name, share in cpu_shares(before, after).items():
        key = name.partition(" ")[0] if name.startswith(("postgres", "processor")) else name
        shares[key] = shares.get(key, 0.0) + share
    return shares


def rss_of(process: psutil.Process) -> int:
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
    statements: bool = False,
) -> ThroughputResult:
    """Start `processors` processors on a topic holding `total` events and time them until all
    are applied; RSS figures are of the largest processor, the rows written (and, with
    `statements`, Postgres's time by statement) those of the whole run, read once the
    processors have stopped (`cdp.bench.rows`, `cdp.bench.statements`).

    The processors serve their metrics, as deployed ones do; they are read once, at the end,
    for the batch time by step (`cdp.bench.steps`). When `settings` come with a metrics port
    (`observing`, or `CDP_METRICS_PORT`), a `MetricsScraper` also reads them every second."""
    probed = speed_probe()
    scraping = bool(settings.metrics_port)
    if not scraping:
        settings = settings.model_copy(update={"metrics_port": free_port()})
    with contextlib.ExitStack() as stack:
        conn = stack.enter_context(psycopg.connect(settings.database_dsn(), autocommit=True))
        checkpoint(conn)
        running = start_processors(stack, settings, logs, processors, scraping)
        rss_first = rss_peak = 0
        first: tuple[float, int] | None = None
        before: CpuSample | None = None
        watch = StallWatch(STALL_S)
        while True:
            for processor in running:
                processor.check_alive()
            applied = sum(applied_offsets(conn, settings).values())
            now = time.monotonic()
            rss = max(rss_of(p.process) for p in running)
            rss_peak = max(rss_peak, rss)
            if applied > 0 and first is None:
                first, rss_first = (now, applied), rss
                before = sample_cpu(watched(running, services()))
            if applied >= total:
                break
            if watch.stalled(applied):
                raise BenchError(f"no progress for {STALL_S:.0f} s at {applied:,} of {total:,}")
            time.sleep(THROUGHPUT_POLL_S)
        after = sample_cpu(watched(running, services()))
        rss_end = max(rss_of(p.process) for p in running)
        steps, deferred = read_metrics(_ports(settings, processors))
    if first is None or before is None or now <= first[0]:
        raise BenchError("every event was applied in the first batch: too few events to time")
    written = rows_written(settings.database_dsn())
    times = statement_times(settings.database_dsn()) if statements else ()
    measured_s = now - first[0]
    return ThroughputResult(
        events=total,
        produce_s=produce_s,
        measured_events=applied - first[1],
        measured_s=measured_s,
        rss_first=rss_first,
        rss_peak=max(rss_peak, rss_end),
        rss_end=rss_end,
        cpu=grouped_shares(before, after),
        probe_s=(probed, speed_probe()),
        steps=steps,
        rows=written,
        deferred=deferred,
        statements=times,
    )


def checkpoint(conn: psycopg.Connection[Any]) -> None:
    """Flush Postgres's dirty pages before a timed run, so that no checkpoint owed to the WAL of
    earlier runs (or of loading this one) lands in it. Needs a superuser or `pg_checkpoint`; on
    a server where the bench has neither, the run goes on without it."""
    with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
        conn.execute("CHECKPOINT")


def start_processors(
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


def watched(
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


def wait_applied(
    conn: psycopg.Connection[Any],
    settings: Settings,
    processors: list[ProcessorProcess],
    total: int,
) -> None:
    """Block until the processors have stored offsets past `total` records in all."""
    watch = StallWatch(STALL_S)
    while True:
        for processor in processors:
            processor.check_alive()
        applied = sum(applied_offsets(conn, settings).values())
        if applied >= total:
            return
        if watch.stalled(applied):
            raise BenchError(f"no progress for {STALL_S:.0f} s at {applied:,} of {total:,}")
        time.sleep(THROUGHPUT_POLL_S)
