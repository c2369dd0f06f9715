"""`cdp sources`: register, list and disable sources (write keys)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from cdp.cli.common import fail, settings_for_command
from cdp.db import create_engine
from cdp.errors import CdpError
from cdp.ingest.sources import create_source, disable_source, list_sources

app = typer.Typer(help="Sources and their write keys.", no_args_is_help=True)


@app.command("create")
def create(name: str = typer.Argument(..., help="A unique name, e.g. web or ios-app.")) -> None:
    """Register a source and print its write key (shown this once only)."""
    engine = create_engine(settings_for_command(), pool_size=1)
    try:
        source, key = create_source(engine, name)
    except CdpError as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    typer.echo(f"source {source.name} ({source.id})")
    typer.echo(f"write key: {key}")


@app.command("list")
def list_() -> None:
    """List the sources: id, name, enabled, a hint of the write key."""
    engine = create_engine(settings_for_command(), pool_size=1)
    try:
        rows = list_sources(engine)
    finally:
        engine.dispose()
    table = Table("id", "name", "enabled", "write key", "created")
    for s in rows:
        table.add_row(
            s.id, s.name, "yes" if s.enabled else "no", s.write_key_hint, str(s.created_at or "")
        )
    Console().print(table)


@app.command("disable")
def disable(name_or_id: str) -> None:
    """Disable a source: the collector refuses its write key within seconds."""
    engine = create_engine(settings_for_command(), pool_size=1)
    try:
        found = disable_source(engine, name_or_id)
    finally:
        engine.dispose()
    if not found:
        fail(f"no source {name_or_id!r}")
    typer.echo(f"disabled {name_or_id}")
