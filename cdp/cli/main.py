"""The `cdp` command: one entry point for every service and tool."""

from __future__ import annotations

from typing import Annotated

import typer

from cdp.cli import (
    bench,
    demo,
    destinations,
    keys,
    privacy,
    profile,
    segments,
    sources,
    status,
    tail,
)
from cdp.cli import traits as computed_traits
from cdp.cli.common import fail, settings_for_command
from cdp.errors import CdpError

app = typer.Typer(help="cdp: an event-streaming customer data platform.", no_args_is_help=True)
app.add_typer(sources.app, name="sources")
app.command("tail")(tail.tail)
app.add_typer(bench.app, name="bench")
app.add_typer(profile.app, name="profile")
app.add_typer(segments.app, name="segments")
app.command("status")(status.status)
app.command("demo")(demo.demo)
app.add_typer(privacy.app, name="privacy")
app.add_typer(keys.app, name="keys")
app.add_typer(destinations.app, name="destinations")
app.add_typer(computed_traits.app, name="traits")


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
def collector(
    workers: Annotated[
        int | None,
        typer.Option(
            min=1, help="Processes sharing the port; default CDP_COLLECTOR_WORKERS, else 1."
        ),
    ] = None,
) -> None:
    """Run the Segment-compatible HTTP collector."""
    from cdp.ingest import run_collector

    settings = settings_for_command("collector")
    if workers is not None:
        settings = settings.model_copy(update={"collector_workers": workers})
    try:
        run_collector(settings)
    except CdpError as exc:
        fail(str(exc))


@app.command()
def api() -> None:
    """Run the profile read API (GET /v1/profiles/{type}:{value}, bearer API key: `cdp keys`)."""
    from cdp.profiles import run_api

    try:
        run_api(settings_for_command("api"))
    except CdpError as exc:
        fail(str(exc))


@app.command()
def processor() -> None:
    """Run the profile processor: raw events → identity resolution → profiles in Postgres."""
    from cdp.profiles import run_processor

    try:
        run_processor(settings_for_command("processor"))
    except CdpError as exc:
        fail(str(exc))


@app.command()
def relay() -> None:
    """Run the outbox relay: publishes profile changes written by the processor."""
    from cdp.activation import run_relay

    try:
        run_relay(settings_for_command("relay"))
    except CdpError as exc:
        fail(str(exc))


@app.command()
def scheduler() -> None:
    """Run the segment scheduler: backfills, time-window boundaries, deleted segments."""
    from cdp.activation.scheduler_service import run_scheduler

    try:
        run_scheduler(settings_for_command("scheduler"))
    except CdpError as exc:
        fail(str(exc))


@app.command()
def activation() -> None:
    """Run delivery to destinations: one faust worker per destination, kept in step with Postgres."""
    from cdp.activation.destinations.runner import run_activation

    try:
        run_activation(settings_for_command("activation"))
    except CdpError as exc:
        fail(str(exc))


@app.command("activation-worker", hidden=True)
def activation_worker(name: str) -> None:
    """Run the faust worker of one destination (started by `cdp activation`)."""
    from cdp.activation.destinations.runner import run_worker

    try:
        run_worker(settings_for_command("activation"), name)
    except CdpError as exc:
        fail(str(exc))


@app.command("migrate")
def migrate() -> None:
    """Apply the database migrations."""
    from cdp.db import upgrade

    upgrade(settings_for_command())
    typer.echo("database is up to date")


@app.command("init")
def init() -> None:
    """Migrate Postgres and create the topics (idempotent): a deployment's init job."""
    from cdp.stack import prepare

    prepare(settings_for_command())
    typer.echo("database is up to date; topics exist")


def main() -> None:
    app()
