"""`cdp keys`: create, list and revoke API keys; the list shows the collector's write keys too."""

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
