"""`cdp profile`: look a profile up by any identifier, straight from Postgres."""

from __future__ import annotations

from typing import Any

import orjson
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy.exc import OperationalError

from cdp.cli.common import fail, settings_for_command
from cdp.db import create_engine

app = typer.Typer(help="Profiles: look one up by any identifier.", no_args_is_help=True)


@app.command("show")
def show(
    ref: str = typer.Argument(
        ..., help="type:value, e.g. email:jane@example.com, user_id:42, profile_id:7."
    ),
    events: int = typer.Option(10, "--events", "-n", min=0, help="How many recent events to show."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Show a profile: traits, computed traits, identifiers, merges, groups and recent events,
    decrypted."""
    from cdp.privacy.errors import PrivacyError
    from cdp.privacy.keystate import check_pii_state, pii_codec
    from cdp.profiles.api import ApiError, parse_reference
    from cdp.profiles.read import (
        find_profile,
        profile_events,
        profile_groups,
        profile_identifiers,
        profile_merges,
        profile_view,
    )

    try:
        id_type, value = parse_reference(ref)
    except ApiError as exc:
        raise fail(exc.message) from None
    settings = settings_for_command()
    codec = pii_codec(settings)
    engine = create_engine(settings, pool_size=1)
    try:
        check_pii_state(engine, settings)
        with engine.connect().execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=True
        ) as conn:
            profile_id = find_profile(conn, id_type, value, settings.identity, codec)
            if profile_id is None:
                raise fail(f"no profile has {id_type}:{value}")
            found = {
                **profile_view(conn, profile_id, codec),
                "identifiers": profile_identifiers(conn, profile_id, codec),
                "merges": profile_merges(conn, profile_id),
                "groups": profile_groups(conn, profile_id, codec),
                "events": profile_events(conn, profile_id, codec, limit=events) if events else [],
            }
    except OperationalError as exc:
        raise fail(f"cannot read from Postgres: {exc.orig or exc}") from None
    except PrivacyError as exc:
        raise fail(str(exc)) from None
    finally:
        engine.dispose()
    if as_json:
        typer.echo(orjson.dumps(found, option=orjson.OPT_INDENT_2).decode())
        return
    _print(Console(), found)


def _print(console: Console, found: dict[str, Any]) -> None:
    console.print(
        f"[bold]profile {found['profile_id']}[/bold]  created {found['created_at']}  "
        f"updated {found['updated_at']}  merges {found['merge_count']}"
    )
    console.print(_key_values("traits", found["traits"]))
    console.print(_key_values("computed traits", found["computed"]))
    console.print(
        _rows(
            "identifiers",
            ("type", "value", "first seen", "last seen"),
            [
                (i["type"], i["value"], i["first_seen"], i["last_seen"])
                for i in found["identifiers"]
            ],
        )
    )
    console.print(
        _rows(
            "merges",
            ("from", "into", "reason", "message id", "at"),
            [
                (m["from_profile"], m["into_profile"], m["reason"], m["message_id"], m["merged_at"])
                for m in found["merges"]
            ],
        )
    )
    console.print(
        _rows(
            "groups",
            ("group", "traits", "first seen", "last seen"),
            [
                (g["group_id"], _text(g["traits"]), g["first_seen"], g["last_seen"])
                for g in found["groups"]
            ],
        )
    )
    console.print(
        _rows(
            "recent events",
            ("time", "type", "name", "message id"),
            [(e["timestamp"], e["type"], e["name"], e["message_id"]) for e in found["events"]],
        )
    )


def _key_values(title: str, values: dict[str, Any]) -> Table:
    return _rows(title, ("name", "value"), [(k, _text(v)) for k, v in sorted(values.items())])


def _rows(title: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> Table:
    table = Table(*columns, title=title, title_justify="left", show_edge=False)
    for row in rows:
        table.add_row(*(Text(_text(cell)) for cell in row))
    if not rows:
        table.add_row("(none)", *([""] * (len(columns) - 1)))
    return table


def _text(value: Any) -> str:
    """Strings as they are, None as blank, everything else as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()
