"""`cdp privacy`: data subject requests (export, delete, suppress, consent) and retention."""

from __future__ import annotations

import getpass
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer

from cdp.cli.common import fail, settings_for_command

if TYPE_CHECKING:
    from cdp.privacy.service import PrivacyService

app = typer.Typer(
    help="Data subject requests by any identifier (email:x, user_id:42, profile_id:7).",
    no_args_is_help=True,
)

Subject = Annotated[str, typer.Argument(help="The person, as type:value (email:jane@example.com).")]


def _who() -> str:
    return f"cli:{getpass.getuser()}"


def _service() -> PrivacyService:
    from cdp.privacy.service import PrivacyService

    return PrivacyService(settings_for_command())


def _echo(body: object) -> None:
    typer.echo(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())


@app.command("export")
def export(
    subject: Subject,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the JSON here, not to stdout.")
    ] = None,
) -> None:
    """Everything held on the person (following merges), as one JSON document."""
    from cdp.privacy.errors import PrivacyError

    try:
        started = _service().start_export(subject, _who())
    except PrivacyError as exc:
        raise fail(str(exc)) from None
    if out is None:
        for chunk in started.chunks():
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.write(b"\n")
        return
    with out.open("wb") as sink:
        for chunk in started.chunks():
            sink.write(chunk)
    typer.echo(f"exported to {out} (privacy request {started.request_id})", err=True)


@app.command("delete")
def delete(subject: Subject) -> None:
    """Delete the person everywhere in Postgres (exits emitted) and suppress their identifiers."""
    from cdp.privacy.errors import PrivacyError

    try:
        done = _service().delete(subject, _who())
    except PrivacyError as exc:
        raise fail(str(exc)) from None
    _echo(done)
    if done["status"] != "done":
        raise typer.Exit(1)


@app.command("suppress")
def suppress(subject: Subject) -> None:
    """Stop collecting the person's events from now on, without deleting what is held."""
    from cdp.privacy.errors import PrivacyError

    try:
        _echo(_service().suppress(subject, _who()))
    except PrivacyError as exc:
        raise fail(str(exc)) from None


@app.command("consent")
def consent(
    subject: Subject,
    purpose: Annotated[str, typer.Argument(help="The purpose, e.g. Advertising.")],
    granted: Annotated[bool, typer.Option("--grant/--revoke", help="Grant or revoke.")],
    at: Annotated[
        datetime | None, typer.Option("--at", help="When the person decided (default now, UTC).")
    ] = None,
) -> None:
    """Record a consent decision; segments that read consent are re-evaluated."""
    from cdp.privacy.errors import PrivacyError

    try:
        _echo(_service().consent(subject, purpose, granted, at, _who()))
    except PrivacyError as exc:
        raise fail(str(exc)) from None


@app.command("status")
def status(request_id: Annotated[int, typer.Argument(help="A privacy request id.")]) -> None:
    """Show a privacy request (a deletion job's status)."""
    found = _service().status(request_id)
    if found is None:
        raise fail(f"no privacy request {request_id}")
    _echo(found)


@app.command("run-pending")
def run_pending() -> None:
    """Run deletion jobs left pending (e.g. by an API process that stopped)."""
    typer.echo(f"ran {_service().run_pending()} pending deletion job(s)")


@app.command("suppressed")
def suppressed(
    subject: Annotated[str | None, typer.Argument(help="Only this identifier.")] = None,
) -> None:
    """How many events the processor dropped as suppressed."""
    from cdp.privacy.errors import PrivacyError

    try:
        typer.echo(str(_service().suppressed_count(subject)))
    except PrivacyError as exc:
        raise fail(str(exc)) from None


@app.command("retention")
def retention() -> None:
    """Drop timeline months older than CDP_TIMELINE_RETENTION_DAYS (0 keeps everything)."""
    from cdp.privacy.retention import apply_retention

    settings = settings_for_command()
    if not settings.timeline_retention_days:
        typer.echo("CDP_TIMELINE_RETENTION_DAYS is 0: the timeline is kept forever")
        return
    dropped = apply_retention(settings)
    typer.echo(f"dropped {len(dropped)} partition(s): {', '.join(dropped) or '-'}")
