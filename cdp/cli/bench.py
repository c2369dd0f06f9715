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
    metrics: Annotated[
        bool,
        typer.Option(help="Another throughput run with metrics scraped every second."),
    ] = False,
    compare_encryption: Annotated[
        bool,
        typer.Option(
            help="Another throughput run with PII encryption off, compared with the first (on)."
        ),
    ] = False,
    repeat: Annotated[
        int,
        typer.Option(
            min=1,
            help="Throughput runs of each side of the comparisons, in turn; each side's median.",
        ),
    ] = 1,
    statements: Annotated[
        bool,
        typer.Option(
            help="Postgres time by statement of each throughput run (pg_stat_statements; the "
            "embedded Postgres loads it, an external one must preload it)."
        ),
    ] = False,
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
        metrics,
        compare_encryption=compare_encryption,
        repeat=repeat,
        statements=statements,
    )
    status = Console(stderr=True)
    try:
        report = run_pipeline_bench(options, announce=status.print)
    except CdpError as exc:
        fail(str(exc))
    console = Console()
    console.print(render_pipeline_table(report))
    console.print(f"written to {write_pipeline_report(report, output_dir)}")


@app.command("console")
def console(
    events: Annotated[int, typer.Option(min=10, help="Events in the customer's profile.")] = 10_000,
    loads: Annotated[int, typer.Option(min=1, help="Page loads timed after the first.")] = 5,
    output_dir: Annotated[
        Path, typer.Option(help="Where the JSON file goes.")
    ] = DEFAULT_OUTPUT_DIR,
) -> None:
    """Customer-360 page load in headless Chromium for one profile with EVENTS events."""
    import orjson

    from cdp.bench.console import ConsoleBenchOptions, run_console_bench

    configure_logging("WARNING")
    status = Console(stderr=True)
    try:
        report = run_console_bench(ConsoleBenchOptions(events, loads), announce=status.print)
    except CdpError as exc:
        fail(str(exc))
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / "console.json"
    path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    Console().print_json(data=report)
    Console().print(f"written to {path}")


@app.command("privacy")
def privacy(
    events: Annotated[int, typer.Option(min=1, help="Timeline events of the person.")] = 10_000,
    rounds: Annotated[int, typer.Option(min=1, help="Export + delete rounds.")] = 3,
    background: Annotated[
        int, typer.Option(min=0, help="Other people in the store (20 events each).")
    ] = 2_000,
    output_dir: Annotated[
        Path, typer.Option(help="Where the JSON file goes.")
    ] = DEFAULT_OUTPUT_DIR,
) -> None:
    """Export and deletion time for one person with EVENTS events (Postgres only)."""
    from cdp.bench.output import render_rows, write_json
    from cdp.bench.privacy import PrivacyBenchOptions, run_privacy_bench

    configure_logging("WARNING")
    status = Console(stderr=True)
    try:
        report = run_privacy_bench(
            PrivacyBenchOptions(events, rounds, background), announce=status.print
        )
    except CdpError as exc:
        fail(str(exc))
    console = Console()
    console.print(render_rows("privacy", report.summary()))
    path = write_json("privacy", report.started_at, report.as_json(), output_dir)
    console.print(f"written to {path}")


@app.command("webhook")
def webhook(
    changes: Annotated[int, typer.Option(min=100, help="Membership changes delivered.")] = 20_000,
    profiles: Annotated[int, typer.Option(min=1, help="Distinct profiles behind them.")] = 2_000,
    concurrency: Annotated[
        int, typer.Option(min=1, max=256, help="Profiles delivered at once.")
    ] = 32,
) -> None:
    """Membership changes through a destination's faust worker to a local receiver: deliveries/s."""
    from cdp.bench.webhook import run_webhook_bench

    configure_logging("WARNING")
    status = Console(stderr=True)
    try:
        result = run_webhook_bench(changes, profiles, concurrency, announce=status.print)
    except CdpError as exc:
        fail(str(exc))
    Console().print(
        f"webhook: {result.delivered} of {result.changes} changes ({result.profiles} profiles, "
        f"concurrency {result.concurrency}) in {result.seconds:.2f} s = "
        f"{result.deliveries_per_s:,.0f} deliveries/s; worker CPU "
        f"{result.worker_cpu_s_per_1000:.3f} s per 1,000"
    )


@app.command("activation")
def activation(
    rate: Annotated[
        float, typer.Option(min=1.0, help="Offered events/s in the latency run.")
    ] = 5_000.0,
    latency_seconds: Annotated[
        float, typer.Option(min=0.0, help="Seconds of paced load in the latency run; 0 skips it.")
    ] = 20.0,
    profiles: Annotated[
        int, typer.Option(min=0, help="Profiles the backfill runs over; 0 skips it.")
    ] = 1_000_000,
    relay_poll_ms: Annotated[
        int | None,
        typer.Option(min=1, help="The relay's idle poll; default CDP_RELAY_POLL_MS."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the generated profiles.")] = 1,
    output_dir: Annotated[
        Path, typer.Option(help="Where the JSON file goes.")
    ] = DEFAULT_OUTPUT_DIR,
) -> None:
    """Event → membership change on Kafka latency through the processor and relay, and the
    backfill rate of a new segment over bulk-loaded profiles."""
    from cdp.bench.activation import ActivationOptions, run_activation_bench
    from cdp.bench.activation_report import render_activation_table, write_activation_report

    configure_logging("WARNING")
    options = ActivationOptions(rate, latency_seconds, profiles, relay_poll_ms, seed)
    status = Console(stderr=True)
    try:
        report = run_activation_bench(options, announce=status.print)
    except CdpError as exc:
        fail(str(exc))
    console = Console()
    console.print(render_activation_table(report))
    console.print(f"written to {write_activation_report(report, output_dir)}")
