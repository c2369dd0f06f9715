"""`cdp segments`: apply, preview, list and delete segment definitions."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import orjson
import typer
from rich.console import Console
from rich.table import Table

from cdp.cli.common import fail, settings_for_command

if TYPE_CHECKING:
    from cdp.activation.segments import SegmentDefinition

app = typer.Typer(help="Segments (audiences): definitions in YAML or JSON.", no_args_is_help=True)


def _load(path: Path) -> list[SegmentDefinition]:
    from cdp.activation.segments import SegmentDefinitionError, load_segments

    try:
        return list(load_segments(path))
    except SegmentDefinitionError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc}") from None


@app.command("apply")
def apply(
    path: Path = typer.Argument(..., help="A YAML or JSON file of one or more segments."),
) -> None:
    """Create or update the segments in PATH; a changed definition gets a new version and is backfilled."""
    from cdp.activation.operations import apply_definitions
    from cdp.activation.segments import SegmentDefinitionError
    from cdp.db import create_engine

    definitions = _load(path)
    settings = settings_for_command()
    engine = create_engine(settings, pool_size=1)
    try:
        for applied in apply_definitions(settings, engine, definitions):
            typer.echo(f"{applied.slug}: {applied.action} (version {applied.version})")
    except SegmentDefinitionError as exc:
        raise fail(str(exc)) from None
    finally:
        engine.dispose()


@app.command("preview")
def preview(
    path: Path = typer.Argument(..., help="A YAML or JSON file of one or more segments."),
    sample: int = typer.Option(
        10, "--sample", "-n", min=0, help="How many matching profiles to show."
    ),
) -> None:
    """Show how many profiles each segment in PATH would hold now, and a sample, without saving."""
    from cdp.activation.operations import preview as run_preview
    from cdp.db import create_engine

    definitions = _load(path)
    engine = create_engine(settings_for_command(), pool_size=1)
    try:
        for definition in definitions:
            result = run_preview(engine, definition, sample)
            typer.echo(f"{definition.slug}: {result.size} profiles")
            for row in result.sample:
                typer.echo(f"  {row['profile_id']}  {orjson.dumps(row['traits']).decode()}")
    finally:
        engine.dispose()


@app.command("list")
def list_() -> None:
    """List segments with their version, state, size and whether the backfill is done."""
    from cdp.activation.operations import list_segments
    from cdp.db import create_engine

    engine = create_engine(settings_for_command(), pool_size=1)
    try:
        rows = list_segments(engine)
    finally:
        engine.dispose()
    table = Table("slug", "name", "version", "state", "size", "backfilled")
    for r in rows:
        table.add_row(
            r["slug"],
            r["name"],
            str(r["version"]),
            r["state"],
            str(r["size"]),
            "yes" if r["backfilled"] else "no",
        )
    Console().print(table)


@app.command("delete")
def delete(slug: str) -> None:
    """Delete a segment: its members exit (tombstones on its topic) when the scheduler next runs."""
    from cdp.activation.operations import remove_segment
    from cdp.db import create_engine

    engine = create_engine(settings_for_command(), pool_size=1)
    try:
        found = remove_segment(engine, slug)
    finally:
        engine.dispose()
    if not found:
        fail(f"no active segment {slug!r}")
    typer.echo(f"deleted {slug}")
