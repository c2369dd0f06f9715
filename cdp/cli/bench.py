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
    output_dir: Annotated[
        Path, typer.Option(help="Where the JSON file goes.")
    ] = DEFAULT_OUTPUT_DIR,
) -> None:
    """Load the collector with batches from a separate process; events/s, latency, CPU."""
    from cdp.bench import IngestOptions, render_table, run_ingest_bench, write_report

    configure_logging("WARNING")
    options = IngestOptions(duration, warmup, connections, batch_size, event_bytes)
    status = Console(stderr=True)
    try:
        report = run_ingest_bench(options, announce=status.print)
    except CdpError as exc:
        fail(str(exc))
    console = Console()
    console.print(render_table(report))
    console.print(f"written to {write_report(report, output_dir)}")
