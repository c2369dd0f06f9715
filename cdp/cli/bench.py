"""`cdp bench`: benchmarks that print their figures and keep them under bench-results/."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from cdp.cli.common import fail
from cdp.errors import CdpError
from cdp.logs import configure_logging

DEFAULT_OUTPUT_DIR = Path("bench-results")

app = typer.Typer(help="Benchmarks of cdp on this machine.", no_args_is_help=True)


@app.command("ingest")
def ingest(
    duration: Annotated[float, typer.Option(min=1.0, help="Seconds measured.")] = 15.0,
    warmup: Annotated[
        float, typer.Option(min=0.0, help="Seconds of load before measuring starts.")
    ] = 3.0,
    connections: Annotated[
        int, typer.Option(min=1, help="Concurrent keep-alive HTTP connections.")
    ] = 8,
    batch_size: Annotated[int, typer.Option(min=1, help="Events per /v1/batch request.")] = 100,
    event_bytes: Annotated[
        int, typer.Option(min=1, help="Approximate JSON size of one event.")
    ] = 300,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1, help="Collector worker processes; default CDP_COLLECTOR_WORKERS, else 1."
        ),
    ] = None,
    output_dir: Annotated[
        Path, typer.Option(help="Where the JSON file goes.")
    ] = DEFAULT_OUTPUT_DIR,
) -> None:
    """Load the collector with batches from a separate process; events/s, latency, CPU."""
    from cdp.bench import IngestOptions, render_table, run_ingest_bench, write_report

    configure_logging("WARNING")
    options = IngestOptions(duration, warmup, connections, batch_size, event_bytes, workers)
    status = Console(stderr=True)
    try:
        report = run_ingest_bench(options, announce=status.print)
    except CdpError as exc:
        fail(str(exc))
    console = Console()
    console.print(render_table(report))
    console.print(f"written to {write_report(report, output_dir)}")


@app.command("pipeline")
def pipeline(
    events: Annotated[int, typer.Option(min=1000, help="Events in the throughput run.")] = 200_000,
    persons: Annotated[int, typer.Option(min=1, help="Synthetic people behind them.")] = 20_000,
    rate: Annotated[
        float, typer.Option(min=1.0, help="Offered events/s in the latency run.")
    ] = 5_000.0,
    latency_seconds: Annotated[
        float, typer.Option(min=0.0, help="Seconds of paced load in the latency run; 0 skips it.")
    ] = 20.0,
    batch_max: Annotated[
        int | None,
        typer.Option(min=1, help="Processor batch limit; default CDP_PROCESSOR_BATCH_MAX."),
    ] = None,
    batch_wait_ms: Annotated[
        int | None,
        typer.Option(min=1, help="Processor batch wait; default CDP_PROCESSOR_BATCH_WAIT_MS."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic workload.")] = 1,
    processors: Annotated[
        int, typer.Option(min=1, help="Processor processes sharing the partitions.")
    ] = 1,
    output_dir: Annotated[
        Path, typer.Option(help="Where the JSON file goes.")
    ] = DEFAULT_OUTPUT_DIR,
    segments: Annotated[
        int, typer.Option(min=0, help="Synthetic segments for a second throughput run.")
    ] = 0,
    computed_traits: Annotated[
        int, typer.Option(min=0, help="Synthetic computed traits for that second run.")
    ] = 0,
) -> None:
    """Synthetic customers through Kafka and the processor: events/s, latency, RSS, identity
    precision/recall, and the COPY + upsert ceiling of the same Postgres."""
    from cdp.bench.pipeline import PipelineOptions, run_pipeline_bench
    from cdp.bench.pipeline_report import render_pipeline_table, write_pipeline_report

    configure_logging("WARNING")
    options = PipelineOptions(
        events,
        persons,
        rate,
        latency_seconds,
        batch_max,
        batch_wait_ms,
        seed,
        processors,
        segments,
        computed_traits,
    )
    status = Console(stderr=True)
    try:
        report = run_pipeline_bench(options, announce=status.print)
    except CdpError as exc:
        fail(str(exc))
    console = Console()
    console.print(render_pipeline_table(report))
    console.print(f"written to {write_pipeline_report(report, output_dir)}")
