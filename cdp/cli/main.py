"""The `cdp` command: one entry point for every service and tool."""

from __future__ import annotations

import typer

from cdp.cli import bench, sources, tail
from cdp.cli.common import fail, settings_for_command
from cdp.errors import CdpError

app = typer.Typer(help="cdp: an event-streaming customer data platform.", no_args_is_help=True)
app.add_typer(sources.app, name="sources")
app.command("tail")(tail.tail)
app.add_typer(bench.app, name="bench")


@app.command()
def up() -> None:
    """Run the whole platform; embedded Kafka and Postgres unless CDP_KAFKA_BOOTSTRAP_SERVERS / CDP_DATABASE_URL are set."""
    from cdp.stack import run_stack

    try:
        code = run_stack(settings_for_command())
    except CdpError as exc:
        fail(str(exc))
    raise typer.Exit(code)


@app.command()
def collector() -> None:
    """Run the Segment-compatible HTTP collector."""
    from cdp.ingest import run_collector

    try:
        run_collector(settings_for_command())
    except CdpError as exc:
        fail(str(exc))


@app.command("migrate")
def migrate() -> None:
    """Apply the database migrations."""
    from cdp.db import upgrade

    upgrade(settings_for_command())
    typer.echo("database is up to date")


def main() -> None:
    app()
