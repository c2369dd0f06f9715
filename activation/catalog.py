"""Segment definitions in Postgres: applied, versioned, listed, deleted.

A definition whose fingerprint changes gets the next version; the scheduler backfills every
version it has not evaluated over all profiles yet, while the processor keeps evaluating the
profiles each batch changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cdp.activation.segments import SegmentDefinition, parse_segment
from cdp.db.tables import segments

__all__ = [
    "ActiveSegment",
    "Applied",
    "active_segments",
    "apply_segments",
    "delete_segment",
    "load_active",
]


@dataclass(frozen=True)
class ActiveSegment:
    slug: str
    version: int
    definition: SegmentDefinition

    @cached_property
    def fingerprint(self) -> str:
        """The definition's fingerprint, computed once (compiled statements are kept by it)."""
        return self.definition.fingerprint()


@dataclass(frozen=True)
class Applied:
    slug: str
    action: Literal["created", "updated", "unchanged"]
    version: int


def apply_segments(conn: Connection, definitions: list[SegmentDefinition]) -> list[Applied]:
    """Create or update each definition (in the caller's transaction)."""
    out = []
    for defn in definitions:
        row = conn.execute(
            sa.select(segments.c.version, segments.c.fingerprint, segments.c.state)
            .where(segments.c.slug == defn.slug)
            .with_for_update()
        ).first()
        fingerprint = defn.fingerprint()
        values: dict[str, Any] = {
            "name": defn.name,
            "fingerprint": fingerprint,
            "definition": defn.canonical(),
            "state": "active",
            "updated_at": sa.func.now(),
        }
        if row is None:
            conn.execute(segments.insert().values(slug=defn.slug, version=1, **values))
            out.append(Applied(defn.slug, "created", 1))
        elif row.fingerprint == fingerprint and row.state == "active":
            out.append(Applied(defn.slug, "unchanged", row.version))
        else:
            conn.execute(
                segments.update()
                .where(segments.c.slug == defn.slug)
                .values(version=row.version + 1, **values)
            )
            out.append(Applied(defn.slug, "updated", row.version + 1))
    return out


def delete_segment(conn: Connection, slug: str) -> bool:
    """Mark a segment deleted (its members exit when the scheduler next runs); False if unknown."""
    result = conn.execute(
        segments.update()
        .where(segments.c.slug == slug, segments.c.state == "active")
        .values(state="deleted", version=segments.c.version + 1, updated_at=sa.func.now())
    )
    return result.rowcount > 0


def active_segments(conn: Connection) -> list[ActiveSegment]:
    rows = conn.execute(
        sa.select(segments.c.slug, segments.c.version, segments.c.definition)
        .where(segments.c.state == "active")
        .order_by(segments.c.slug)
    ).all()
    return [
        ActiveSegment(slug, version, parse_segment(definition))
        for slug, version, definition in rows
    ]


def load_active(rows: list[tuple[str, int, dict[str, Any]]]) -> list[ActiveSegment]:
    """Active segments from raw (slug, version, definition) rows."""
    return [
        ActiveSegment(slug, version, parse_segment(definition))
        for slug, version, definition in rows
    ]
