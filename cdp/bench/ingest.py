"""`cdp bench ingest`: the collector under load from a separate process, on this machine.

The stack is started as `cdp up` starts it (embedded broker and Postgres unless
CDP_KAFKA_BOOTSTRAP_SERVERS and CDP_DATABASE_URL are set) under a temporary CDP home, the
collector runs as its own process, and a load generator process posts batches at it.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

import psutil
from sqlalchemy.exc import SQLAlchemyError

from cdp.bench.collector import CollectorProcess
from cdp.bench.environment import temporary_home
from cdp.bench.errors import BenchError
from cdp.bench.loadgen import DRAIN_S, END, START, LoadConfig, LoadFailure, LoadResult, loadgen_main
from cdp.bench.report import IngestReport, machine_info
from cdp.bench.stats import cpu_shares, sample_cpu
from cdp.db import create_engine
from cdp.embedded import free_port
from cdp.ingest.sources import create_source, disable_source
from cdp.settings import Settings, load_settings
from cdp.stack import EmbeddedServices, prepare

__all__ = ["IngestOptions", "measure_load", "run_ingest_bench"]

#: Spawning the load generator (a fresh interpreter importing cdp) and building its requests
#: takes 1-2 s here; the deadline is for a loaded machine, not a normal run.
LOADGEN_START_S = 60.0

#: Slack on top of the window for a mark to cross the pipe on a machine the load saturates.
MARK_SLACK_S = 10.0
REAP_S = 5.0
LOCALHOST = "127.0.0.1"

#: Events come out up to 10% above the size asked for (the smallest event of each type is the
#: floor), so a batch is checked against the collector's limit with that margin.
EVENT_SIZE_MARGIN = 1.1


@dataclass(frozen=True, slots=True)
class IngestOptions:
    """What `cdp bench ingest` is asked to do."""

    duration_s: float = 15.0
    warmup_s: float = 3.0
    connections: int = 8
    batch_size: int = 100
    event_bytes: int = 300
    workers: int | None = None
    """Collector worker processes; None leaves it to the settings (CDP_COLLECTOR_WORKERS)."""


def run_ingest_bench(
    options: IngestOptions, announce: Callable[[str], None] = print
) -> IngestReport:
    """Start the stack and the collector, load it, stop everything; the figures of the run."""
    started_at = datetime.now(UTC)
    run_id = secrets.token_hex(4)
    with temporary_home() as home:
        settings = load_settings(
            home=home, embedded_kafka_port=free_port(), collector_host=LOCALHOST
        )
        _check_body_fits(options, settings)
        services = EmbeddedServices(settings)
        try:
            announce("starting Kafka and Postgres ...")
            resolved = services.start()
            prepare(resolved)
            with _bench_source(resolved, f"bench-{run_id}") as write_key:
                config = _load_config(options, free_port(), write_key, run_id)
                workers = resolved.collector_workers if options.workers is None else options.workers
                result, cpu = _run_collector_under_load(
                    resolved, home, config, workers, services, announce
                )
        finally:
            services.stop()
    return IngestReport(
        started_at, config, result, cpu, _describe(services), machine_info(), workers
    )


def _load_config(options: IngestOptions, port: int, write_key: str, run_id: str) -> LoadConfig:
    return LoadConfig(
        host=LOCALHOST,
        port=port,
        write_key=write_key,
        run_id=run_id,
        connections=options.connections,
        batch_size=options.batch_size,
        event_bytes=options.event_bytes,
        warmup_s=options.warmup_s,
        duration_s=options.duration_s,
    )


def _check_body_fits(options: IngestOptions, settings: Settings) -> None:
    """Refuse a batch the collector would refuse whole, so a run never measures 400s."""
    limits = settings.limits
    if options.batch_size > limits.max_batch_items:
        raise BenchError(f"--batch-size is above the collector's {limits.max_batch_items} events")
    if options.batch_size * options.event_bytes * EVENT_SIZE_MARGIN > limits.max_batch_bytes:
        raise BenchError(f"batches of that size would pass the {limits.max_batch_bytes} B limit")


@contextlib.contextmanager
def _bench_source(settings: Settings, name: str) -> Iterator[str]:
    """A source for the run, yielding its write key; disabled afterwards (it stays on record)."""
    engine = create_engine(settings, pool_size=1)
    try:
        _, write_key = create_source(engine, name)
        yield write_key
    finally:
        with contextlib.suppress(SQLAlchemyError):
            disable_source(engine, name)
        engine.dispose()


def _run_collector_under_load(
    settings: Settings,
    home: Path,
    config: LoadConfig,
    workers: int,
    services: EmbeddedServices,
    announce: Callable[[str], None],
) -> tuple[LoadResult, dict[str, float]]:
    """The collector as its own process(es), ready, under the load of `config`, then stopped."""
    log_path = home / "logs" / "collector.log"
    with CollectorProcess(settings, config.port, log_path, workers) as collector:
        collector.wait_ready()
        announce(
            f"collector ready at {collector.url} ({workers} worker{'s' if workers > 1 else ''}); "
            f"{config.connections} connections, "
            f"{config.warmup_s:g} s warm-up, {config.duration_s:g} s measured ..."
        )
        watched = collector.processes()
        if services.broker is not None and services.broker.pid is not None:
            watched["broker"] = psutil.Process(services.broker.pid)
        return measure_load(config, watched)


def _describe(services: EmbeddedServices) -> dict[str, str]:
    return {
        "kafka": "embedded tansu" if services.broker is not None else "external",
        "postgres": "embedded" if services.postgres is not None else "external",
    }


def measure_load(
    config: LoadConfig, watched: dict[str, psutil.Process]
) -> tuple[LoadResult, dict[str, float]]:
    """Run the load generator process; CPU of `watched` and of it, sampled at its window marks."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(
        target=loadgen_main, args=(config, sender), name="cdp-bench-loadgen", daemon=True
    )
    process.start()
    sender.close()
    try:
        if process.pid is None:
            raise BenchError("the load generator did not start")
        watched = {**watched, "loadgen": psutil.Process(process.pid)}
        _expect(receiver, START, LOADGEN_START_S + config.warmup_s)
        before = sample_cpu(watched)
        _expect(receiver, END, config.duration_s + MARK_SLACK_S)
        after = sample_cpu(watched)
        result = _receive(receiver, DRAIN_S + MARK_SLACK_S)
    finally:
        _reap(process)
    if not isinstance(result, LoadResult):
        raise BenchError(f"the load generator sent {result!r} instead of its result")
    return result, cpu_shares(before, after)


def _receive(receiver: Connection, timeout: float) -> object:
    """The next message of the load generator; `BenchError` on silence, exit or failure."""
    if not receiver.poll(timeout):
        raise BenchError(f"the load generator sent nothing for {timeout:.0f} s")
    try:
        message: object = receiver.recv()
    except EOFError:
        raise BenchError("the load generator exited without its result") from None
    if isinstance(message, LoadFailure):
        raise BenchError(f"the load generator failed: {message.message}")
    return message


def _expect(receiver: Connection, mark: str, timeout: float) -> None:
    message = _receive(receiver, timeout)
    if message != mark:
        raise BenchError(f"the load generator sent {message!r} where {mark!r} was due")


def _reap(process: BaseProcess) -> None:
    process.join(REAP_S)
    if process.is_alive():
        process.terminate()
        process.join(REAP_S)
