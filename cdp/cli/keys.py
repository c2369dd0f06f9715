"""`cdp keys`: create, list and revoke API keys (the list shows the collector's write keys too);
rotate the data key PII is encrypted under and follow the rotation."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cdp.auth import ROLES, create_key, list_keys, revoke_key
from cdp.auth.roles import parse_role
from cdp.cli.common import fail, settings_for_command
from cdp.db import create_engine
from cdp.errors import CdpError
from cdp.ingest.sources import list_sources

app = typer.Typer(
    help="API keys with roles (profile, segment and privacy APIs). Collector write keys "
    "(role ingest) are per source: `cdp sources create`.",
    no_args_is_help=True,
)
_ROLE_HELP = "A role, repeatable: " + ", ".join(r.value for r in ROLES) + " (admin implies all)."


@app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="A unique name, e.g. support-dashboard.")],
    role: Annotated[list[str], typer.Option("--role", help=_ROLE_HELP)],
) -> None:
    """Create an API key and print it (shown this once only; only its hash is stored)."""
    if "ingest" in role:
        fail("ingest keys are the collector's per-source write keys: `cdp sources create NAME`")
    try:
        roles = [parse_role(r) for r in role]
    except ValueError as exc:
        fail(str(exc))
    engine = create_engine(settings_for_command(), pool_size=1)
    try:
        key, secret = create_key(engine, name, roles)
    except CdpError as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    typer.echo(f"key {key.name} ({key.key_id}): {', '.join(sorted(key.roles))}")
    typer.echo(f"api key: {secret}")


@app.command("list")
def list_() -> None:
    """List API keys (id, name, roles, state) and, as role ingest, the sources' write keys."""
    engine = create_engine(settings_for_command(), pool_size=1)
    try:
        keys, sources = list_keys(engine), list_sources(engine)
    finally:
        engine.dispose()
    table = Table("id", "name", "roles", "key", "state", "created")
    for k in keys:
        state = "active" if k.active else f"revoked {k.revoked_at:%Y-%m-%d %H:%M}"
        roles = ", ".join(sorted(k.roles))
        table.add_row(k.key_id, k.name, roles, k.prefix, state, str(k.created_at or ""))
    for s in sources:
        state = "active" if s.enabled else "disabled"
        table.add_row(s.id, s.name, "ingest", s.write_key_hint, state, str(s.created_at or ""))
    Console().print(table)


@app.command("revoke")
def revoke(id_or_name: str) -> None:
    """Revoke an API key by id or name: refused from the next request on."""
    engine = create_engine(settings_for_command(), pool_size=1)
    try:
        found = revoke_key(engine, id_or_name)
    finally:
        engine.dispose()
    if not found:
        fail(f"no active API key {id_or_name!r} (write keys: `cdp sources disable`)")
    typer.echo(f"revoked {id_or_name}")


@app.command("rotate-data-key")
def rotate_data_key(
    wait: Annotated[
        bool, typer.Option("--wait", help="Run the rotation here, showing progress, until done.")
    ] = False,
) -> None:
    """Move every stored PII value to the active data key (CDP_PRIVACY__DATA_KEY_ID), or encrypt
    a database kept in clear. The scheduler service runs it in the background; afterwards
    `cdp keys rotation-status` shows nothing left under the old key, which can then be dropped."""
    import psycopg

    from cdp.privacy.rotation import RotationRunner, request_rotation
    from cdp.privacy.rotation.runner import summary

    settings = settings_for_command()
    engine = create_engine(settings, pool_size=1)
    try:
        rotation = request_rotation(engine, settings)
    except CdpError as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    mode = "conversion to encrypted" if rotation.progress.get("mode") == "convert" else "rotation"
    typer.echo(f"{mode} {rotation.id} to data key {rotation.key_id!r} queued")
    if not wait:
        typer.echo("the scheduler service runs it; follow it with `cdp keys rotation-status`")
        return
    with psycopg.connect(settings.database_dsn(), autocommit=True) as conn:
        status = RotationRunner(settings).run(
            conn, rotation.id, lambda p: typer.echo(summary(p), err=True)
        )
        error = conn.execute(
            "SELECT error FROM data_key_rotations WHERE id = %s", (rotation.id,)
        ).fetchone()
    if status != "done":
        fail(f"rotation {rotation.id} {status}: {error[0] if error else ''}")
    typer.echo(f"rotation {rotation.id} done: every stored value is under {rotation.key_id!r}")


@app.command("rotation-status")
def rotation_status() -> None:
    """Data key rotations, and how many stored values each data key id still holds."""
    from cdp.privacy.rotation import list_rotations
    from cdp.privacy.rotation.requests import stored_counts
    from cdp.privacy.rotation.runner import summary

    settings = settings_for_command()
    engine = create_engine(settings, pool_size=1)
    try:
        rotations = list_rotations(engine)
        with engine.connect() as conn:
            counts = stored_counts(conn)
    finally:
        engine.dispose()
    table = Table("id", "to key", "status", "requested", "finished", "progress / error")
    for r in rotations:
        detail = r.error or summary(r.progress)
        finished = str(r.finished_at or "")
        table.add_row(str(r.id), r.key_id, r.status, str(r.created_at), finished, detail)
    console = Console()
    console.print(table)
    keys = sorted({k for by_key in counts.values() for k in by_key})
    stored = Table("table", *keys, title="stored values by data key id")
    for name, by_key in counts.items():
        stored.add_row(name, *[f"{by_key.get(k, 0):,}" for k in keys])
    console.print(stored)
    active = settings.privacy.data_key_id
    old = [k for k in keys if k != active]
    if not old:
        typer.echo(f"every stored value is under the active data key {active!r}")
    else:
        typer.echo(f"still in use besides the active key {active!r}: {', '.join(old)}")
