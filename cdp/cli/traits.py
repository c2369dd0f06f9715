"""`cdp traits`: apply, list and delete configured computed traits."""

from __future__ import annotations

from pathlib import Path

import orjson
import typer
from rich.console import Console
from rich.table import Table

from cdp.cli.common import fail, settings_for_command

app = typer.Typer(
    help="Configured computed traits: definitions in YAML or JSON.", no_args_is_help=True
)


@app.command("apply")
def apply(
    path: Path = typer.Argument(..., help="A YAML or JSON file of one or more computed traits."),
) -> None:
    """Create or update the traits in PATH; a new or changed one is backfilled from the timeline."""
    from cdp.db import create_engine
    from cdp.profiles.computed import TraitDefinitionError, apply_traits, load_traits
    from cdp.profiles.computed.pii import check_pii_traits

    settings = settings_for_command()
    try:
        definitions = load_traits(path)
        check_pii_traits(definitions, settings.pii_names())
    except TraitDefinitionError as exc:
        raise fail(str(exc)) from None
    engine = create_engine(settings, pool_size=1)
    try:
        with engine.begin() as conn:
            applied = apply_traits(conn, definitions)
    finally:
        engine.dispose()
    for a in applied:
        filled = f", {a.profiles} profiles have a value" if a.action != "unchanged" else ""
        typer.echo(f"{a.name}: {a.action} (version {a.version}{filled})")


@app.command("list")
def list_() -> None:
    """List computed traits with their version, state, definition and how many profiles have one."""
    from cdp.db import create_engine
    from cdp.profiles.computed import list_traits

    engine = create_engine(settings_for_command(), pool_size=1)
    try:
        with engine.connect() as conn:
            rows = list_traits(conn)
    finally:
        engine.dispose()
    table = Table("name", "version", "state", "profiles", "definition")
    for r in rows:
        table.add_row(
            r["name"],
            str(r["version"]),
            r["state"],
            str(r["profiles"]),
            orjson.dumps(r["definition"]).decode(),
        )
    Console().print(table)


@app.command("delete")
def delete(name: str) -> None:
    """Delete a computed trait and its values (segments reading it then see no value)."""
    from cdp.db import create_engine
    from cdp.profiles.computed import delete_trait

    engine = create_engine(settings_for_command(), pool_size=1)
    try:
        with engine.begin() as conn:
            found = delete_trait(conn, name)
    finally:
        engine.dispose()
    if not found:
        raise fail(f"no active computed trait {name!r}")
    typer.echo(f"deleted {name}")
