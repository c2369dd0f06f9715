"""`cdp status`: a live terminal view of throughput, lag, dead letters, segments and destinations."""

from __future__ import annotations

import time
from typing import Any

import typer
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from cdp.cli.common import fail, settings_for_command
from cdp.errors import CdpError
from cdp.settings import Settings

__all__ = ["render_status", "status"]


def take_snapshot(settings: Settings) -> dict[str, Any]:
    """One overview of the stack the settings point at (`cdp.ops.overview`)."""
    from cdp.db import create_engine
    from cdp.ops import overview

    engine = create_engine(settings, pool_size=1)
    try:
        return overview(settings, engine)
    finally:
        engine.dispose()


def status(
    once: bool = typer.Option(False, "--once", help="Print one frame and exit."),
    interval: float = typer.Option(2.0, min=0.2, help="Seconds between refreshes."),
) -> None:
    """Throughput, consumer lag per group/partition, dead letters, segment sizes, destinations.

    Reads the running `cdp up` (`.cdp/stack.json`) or the configured Kafka and Postgres. Throughput
    is the change between two snapshots, so even `--once` samples twice, `--interval` apart.
    """
    from cdp.ops import rates

    settings = settings_for_command()
    console = Console()
    try:
        before = take_snapshot(settings)
        if once:
            time.sleep(interval)
            after = take_snapshot(settings)
            console.print(render_status(after, rates(before, after)))
            return
        with Live(render_status(before, None), console=console, auto_refresh=False) as live:
            while True:
                time.sleep(interval)
                after = take_snapshot(settings)
                live.update(render_status(after, rates(before, after)), refresh=True)
                before = after
    except KeyboardInterrupt:
        return
    except CdpError as exc:
        fail(str(exc))


def render_status(snapshot: dict[str, Any], speed: dict[str, float] | None) -> RenderableType:
    """One frame: a summary line and one table per section."""
    return Group(
        _summary(snapshot, speed),
        _lag_table(snapshot["lag"]),
        _dead_letter_table(snapshot["dead_letters"]),
        _segment_table(snapshot["segments"]),
        _destinations(snapshot["destinations"]),
    )


def _summary(snapshot: dict[str, Any], speed: dict[str, float] | None) -> Table:
    table = Table(title="cdp status", show_header=True)
    for column in ("events/s in", "events/s applied", "lag", "outbox", "profiles", "dead letters"):
        table.add_column(column, justify="right")
    total_lag = sum(r["lag"] for r in snapshot["lag"])
    table.add_row(
        f"{speed['produced_per_s']:,.1f}" if speed else "-",
        f"{speed['applied_per_s']:,.1f}" if speed else "-",
        f"{total_lag:,}",
        f"{snapshot['outbox_backlog']:,}",
        f"{snapshot['profiles']:,}",
        f"{snapshot['dead_letters']['total']:,}",
    )
    return table


def _lag_table(rows: list[dict[str, Any]]) -> RenderableType:
    if not rows:
        return Text("Consumer lag: no consumer has stored offsets yet")
    table = Table(title="Consumer lag")
    for column, justify in (
        ("group", "left"),
        ("topic", "left"),
        ("partition", "right"),
        ("committed", "right"),
        ("end", "right"),
        ("lag", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        table.add_row(
            r["group"],
            r["topic"],
            str(r["partition"]),
            f"{r['committed']:,}",
            f"{r['end']:,}",
            Text(f"{r['lag']:,}", style="red" if r["lag"] else "green"),
        )
    return table


def _dead_letter_table(letters: dict[str, Any]) -> RenderableType:
    if not letters["by_reason"]:
        return Text("Dead letters: none")
    table = Table(title=f"Dead letters ({letters['counted']:,} newest counted)")
    table.add_column("stage")
    table.add_column("reason")
    table.add_column("count", justify="right")
    for r in letters["by_reason"]:
        table.add_row(r["stage"], r["reason"], f"{r['count']:,}")
    return table


def _segment_table(segments: list[dict[str, Any]]) -> RenderableType:
    if not segments:
        return Text("Segments: none defined")
    table = Table(title="Segments")
    table.add_column("slug")
    table.add_column("state")
    table.add_column("members", justify="right")
    for s in segments:
        state = s["state"] if s["backfilled"] else f"{s['state']} (backfilling)"
        table.add_row(s["slug"], state, f"{s['size']:,}")
    return table


def _destinations(rows: list[dict[str, Any]] | None) -> RenderableType:
    if not rows:
        return Text("Destinations: none configured")
    table = Table(title="Destinations")
    columns = list(rows[0])
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if row[c] is None else str(row[c]) for c in columns))
    return table
