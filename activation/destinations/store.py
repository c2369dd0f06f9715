"""Destinations in Postgres: apply, list, delete, and the delivery status `cdp destinations status` shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Engine

from cdp.activation.destinations.config import Destination
from cdp.activation.destinations.errors import DestinationNotFound
from cdp.db.tables import (
    destination_members,
    destination_pending,
    destination_retries,
    destination_status,
    destinations,
)

__all__ = [
    "DestinationStatus",
    "apply_destinations",
    "delete_destination",
    "list_destinations",
    "read_status",
]


@dataclass(frozen=True, slots=True)
class DestinationStatus:
    """Delivery counts of one destination (lag is added by the caller, from Kafka)."""

    name: str
    delivered: int
    retrying: int
    aborted: int
    suppressed: int
    last_error: str | None
    last_error_at: datetime | None


def apply_destinations(engine: Engine, found: list[Destination]) -> list[tuple[str, str]]:
    """Create or update each destination; returns (name, created|updated|unchanged)."""
    out: list[tuple[str, str]] = []
    with engine.begin() as conn:
        for destination in found:
            stored = destination.stored()
            current = conn.execute(
                sa.select(destinations.c.definition).where(destinations.c.name == destination.name)
            ).scalar_one_or_none()
            if current == stored:
                out.append((destination.name, "unchanged"))
                continue
            stmt = insert(destinations).values(name=destination.name, definition=stored)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[destinations.c.name],
                    set_={"definition": stmt.excluded.definition, "updated_at": sa.func.now()},
                )
            )
            conn.execute(
                insert(destination_status)
                .values(destination=destination.name)
                .on_conflict_do_nothing()
            )
            out.append((destination.name, "created" if current is None else "updated"))
    return out


def list_destinations(engine: Engine) -> list[Destination]:
    """Every destination, by name."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(destinations.c.definition).order_by(destinations.c.name)
        ).scalars()
        return [Destination.model_validate(row) for row in rows]


def delete_destination(engine: Engine, name: str) -> None:
    """Remove a destination with its status, members, pending entries and retry histories;
    `DestinationNotFound` if absent."""
    with engine.begin() as conn:
        gone = conn.execute(sa.delete(destinations).where(destinations.c.name == name)).rowcount
        if not gone:
            raise DestinationNotFound(f"no destination named {name!r}")
        conn.execute(sa.delete(destination_status).where(destination_status.c.destination == name))
        for table in (destination_members, destination_pending, destination_retries):
            conn.execute(sa.delete(table).where(table.c.destination == name))


def read_status(engine: Engine) -> list[DestinationStatus]:
    """The delivery counts of every destination, by name."""
    s = destination_status
    query = (
        sa.select(destinations.c.name, s.c.delivered, s.c.retrying, s.c.aborted, s.c.suppressed)
        .add_columns(s.c.last_error, s.c.last_error_at)
        .select_from(destinations.outerjoin(s, s.c.destination == destinations.c.name))
        .order_by(destinations.c.name)
    )
    with engine.connect() as conn:
        rows: list[Any] = list(conn.execute(query))
    return [
        DestinationStatus(r[0], r[1] or 0, r[2] or 0, r[3] or 0, r[4] or 0, r[5], r[6])
        for r in rows
    ]
