"""`cdp destinations`: apply, list, delete destinations and show their delivery status."""

from __future__ import annotations

from pathlib import Path

import orjson
import typer
from rich.console import Console
from rich.table import Table

from cdp.cli.common import fail, settings_for_command
from cdp.errors import CdpError

app = typer.Typer(
    help="Destinations: where segment membership changes are delivered.", no_args_is_help=True
)


@app.command("apply")
def apply(
    path: Path = typer.Argument(..., help="A YAML or JSON file of one or more destinations."),
) -> None:
    """Create or update the destinations in PATH; `cdp activation` picks changes up within seconds."""
    from cdp.activation.destinations import apply_destinations, load_destinations
    from cdp.db import create_engine

    try:
        found = load_destinations(path)
    except CdpError as exc:
        raise fail(str(exc)) from None
    engine = create_engine(settings_for_command(), pool_size=1)
    try:
        for name, action in apply_destinations(engine, found):
            typer.echo(f"{name}: {action}")
    finally:
        engine.dispose()


@app.command("list")
def list_(
    as_json: bool = typer.Option(False, "--json", help="Print each definition as JSON."),
) -> None:
    """List destinations; the webhook signing secret is never shown."""
    from cdp.activation.destinations import list_destinations
    from cdp.db import create_engine

    engine = create_engine(settings_for_command(), pool_size=1)
    try:
        found = list_destinations(engine)
    finally:
        engine.dispose()
    if as_json:
        for destination in found:
            typer.echo(orjson.dumps(destination.public()).decode())
        return
    table = Table("name", "channel", "target", "segments", "consent", "rate/s", "enabled")
    for d in found:
        target = getattr(d.channel, "url", None) or getattr(d.channel, "topic", "")
        table.add_row(
            d.name,
            d.channel.type,
            target,
            ", ".join(d.segments),
            ", ".join(d.consent) or "-",
            f"{d.rate_limit:g}",
            "yes" if d.enabled else "no",
        )
    Console().print(table)


@app.command("delete")
def delete(name: str) -> None:
    """Delete a destination, its status and the record of what it holds."""
    from cdp.activation.destinations import delete_destination
    from cdp.db import create_engine

    engine = create_engine(settings_for_command(), pool_size=1)
    try:
        delete_destination(engine, name)
    except CdpError as exc:
        raise fail(str(exc)) from None
    finally:
        engine.dispose()
    typer.echo(f"deleted {name}")


@app.command("status")
def status() -> None:
    """Per destination: delivered, retrying, aborted, suppressed, lag and the last error."""
    from cdp.activation.destinations import read_status
    from cdp.activation.destinations.lag import destination_lag
    from cdp.db import create_engine

    settings = settings_for_command()
    engine = create_engine(settings, pool_size=1)
    try:
        rows = read_status(engine)
    finally:
        engine.dispose()
    try:
        lag = destination_lag(settings, [r.name for r in rows])
    except CdpError as exc:
        typer.secho(f"lag unavailable: {exc}", err=True)
        lag = {}
    table = Table("name", "delivered", "retrying", "aborted", "suppressed", "lag", "last error")
    for r in rows:
        behind = lag.get(r.name)
        table.add_row(
            r.name,
            str(r.delivered),
            str(r.retrying),
            str(r.aborted),
            str(r.suppressed),
            "-" if behind is None else str(behind),
            (r.last_error or "")[:80],
        )
    Console(width=160).print(table)
