"""Computed-trait definitions in Postgres: applied (and backfilled), listed, deleted.

Applying takes the exclusive side of `CATALOG_LOCK`: it waits for the batches in flight to commit,
and batches wait for it, so the backfill (one set-based statement over the timeline) and the
processor never count an event twice or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cdp.db.tables import computed_trait_values as ctv
from cdp.db.tables import computed_traits, events
from cdp.profiles.computed.maintain import CATALOG_LOCK
from cdp.profiles.computed.model import TraitDefinition
from cdp.profiles.computed.sql import STATE_COLUMNS, aggregate

__all__ = ["AppliedTrait", "apply_traits", "backfill", "delete_trait", "list_traits"]


@dataclass(frozen=True)
class AppliedTrait:
    name: str
    action: Literal["created", "updated", "unchanged"]
    version: int
    profiles: int


def _lock(conn: Connection) -> None:
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": CATALOG_LOCK})


def apply_traits(
    conn: Connection, definitions: list[TraitDefinition], now: datetime | None = None
) -> list[AppliedTrait]:
    """Create or update each definition and backfill a new or changed one from the timeline, in
    the caller's transaction."""
    _lock(conn)
    moment = now or datetime.now(UTC)
    out = []
    for defn in definitions:
        row = conn.execute(
            sa.select(
                computed_traits.c.version, computed_traits.c.fingerprint, computed_traits.c.state
            ).where(computed_traits.c.name == defn.name)
        ).first()
        fingerprint = defn.fingerprint()
        values: dict[str, Any] = {
            "fingerprint": fingerprint,
            "definition": defn.canonical(),
            "state": "active",
            "updated_at": sa.func.now(),
        }
        if row is not None and row.fingerprint == fingerprint and row.state == "active":
            out.append(AppliedTrait(defn.name, "unchanged", row.version, -1))
            continue
        if row is None:
            conn.execute(computed_traits.insert().values(name=defn.name, version=1, **values))
            action: Literal["created", "updated"] = "created"
            version = 1
        else:
            version = row.version + 1
            conn.execute(
                computed_traits.update()
                .where(computed_traits.c.name == defn.name)
                .values(version=version, **values)
            )
            action = "updated"
        out.append(AppliedTrait(defn.name, action, version, backfill(conn, defn, moment)))
    return out


def backfill(conn: Connection, defn: TraitDefinition, now: datetime) -> int:
    """Replace every profile's state of `defn` by one computed from the timeline; returns how
    many profiles have a value."""
    conn.execute(sa.delete(ctv).where(ctv.c.name == defn.name))
    conn.execute(sa.insert(ctv).from_select(list(STATE_COLUMNS), aggregate(defn, events, now)))
    count = sa.select(sa.func.count()).select_from(ctv).where(ctv.c.name == defn.name)
    return int(conn.execute(count).scalar_one())


def delete_trait(conn: Connection, name: str) -> bool:
    """Mark a definition deleted and drop its values; False if there is no active one."""
    _lock(conn)
    result = conn.execute(
        computed_traits.update()
        .where(computed_traits.c.name == name, computed_traits.c.state == "active")
        .values(state="deleted", version=computed_traits.c.version + 1, updated_at=sa.func.now())
    )
    if result.rowcount == 0:
        return False
    conn.execute(sa.delete(ctv).where(ctv.c.name == name))
    return True


def list_traits(conn: Connection) -> list[dict[str, Any]]:
    """Every definition with its version, state and how many profiles have a value."""
    size = (
        sa.select(sa.func.count())
        .where(ctv.c.name == computed_traits.c.name)
        .scalar_subquery()
        .label("profiles")
    )
    rows = conn.execute(
        sa.select(
            computed_traits.c.name,
            computed_traits.c.version,
            computed_traits.c.state,
            computed_traits.c.definition,
            computed_traits.c.updated_at,
            size,
        ).order_by(computed_traits.c.name)
    ).mappings()
    return [
        {
            "name": r["name"],
            "version": r["version"],
            "state": r["state"],
            "definition": r["definition"],
            "profiles": r["profiles"],
            "updated_at": r["updated_at"].isoformat(),
        }
        for r in rows
    ]
