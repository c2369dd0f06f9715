"""Backfilling one segment over a chunk of profiles with set-based SQL.

The chunk's rows are locked first (in id order, as the processor locks them), so no one else can
change those profiles or their memberships until the chunk commits. Entering members are inserted
and exiting ones deleted by one statement each, which return the profile ids that changed; only
those come back to Python, to be encoded into outbox records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from psycopg import Connection
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import ColumnElement

from cdp.activation.catalog import ActiveSegment
from cdp.activation.membership import MembershipChange, array_text, write_outbox
from cdp.activation.segments import membership_condition, next_boundary
from cdp.db.compile import execute
from cdp.db.tables import profiles, segment_checks, segment_memberships
from cdp.schemas import Codec

__all__ = ["Chunk", "backfill_chunk", "id_array"]


@dataclass(frozen=True, slots=True)
class Chunk:
    """The profiles one backfill transaction evaluated: how many, and the highest id."""

    profiles: int
    last_id: int
    changes: int


def id_array(ids: list[int]) -> ColumnElement[Any]:
    """`ids` as one bigint[] parameter sent as array text (see `array_text`)."""
    return sa.cast(sa.literal(array_text(ids), sa.Text), ARRAY(sa.BigInteger))


def backfill_chunk(
    conn: Connection[Any],
    segment: ActiveSegment,
    after: int,
    size: int,
    codec: Codec,
    membership_topic: str,
    now: datetime,
) -> Chunk | None:
    """Evaluate `segment` for the first `size` profiles with an id above `after`, in the caller's
    transaction: the same membership rows, window checks and outbox records as
    `evaluate_segments` writes for those profiles. None when there are no such profiles."""
    ids = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM profiles WHERE id > %s ORDER BY id LIMIT %s FOR UPDATE", (after, size)
        ).fetchall()
    ]
    if not ids:
        return None
    locked = id_array(ids)
    chunk = sa.and_(
        profiles.c.id > after, profiles.c.id <= ids[-1], profiles.c.id == sa.any_(locked)
    )
    member = sa.and_(
        profiles.c.merged_into.is_(None), membership_condition(segment.definition, now)
    )
    exited = _exit(conn, segment, locked, member)
    entered = _enter(conn, segment, chunk, member)
    _write_checks(conn, segment, chunk, now)
    changes = [MembershipChange(segment, p, "entered") for p in entered]
    changes += [MembershipChange(segment, p, "exited") for p in exited]
    write_outbox(conn, changes, codec, membership_topic, "backfill")
    return Chunk(len(ids), ids[-1], len(changes))


def _enter(
    conn: Connection[Any],
    segment: ActiveSegment,
    chunk: ColumnElement[bool],
    member: ColumnElement[bool],
) -> list[int]:
    """Insert the members of the chunk that are not members yet; their ids, ascending."""
    m = segment_memberships
    already = sa.exists().where(m.c.slug == segment.slug, m.c.profile_id == profiles.c.id)
    new = sa.select(
        sa.literal(segment.slug, sa.Text), profiles.c.id, sa.literal(segment.version, sa.Integer)
    ).where(chunk, member, sa.not_(already))
    statement = (
        sa.insert(m).from_select(["slug", "profile_id", "version"], new).returning(m.c.profile_id)
    )
    return sorted(r[0] for r in execute(conn, statement))


def _exit(
    conn: Connection[Any],
    segment: ActiveSegment,
    ids: ColumnElement[Any],
    member: ColumnElement[bool],
) -> list[int]:
    """Delete the memberships of chunk profiles that are no longer members; their ids, ascending.

    The profile is looked up per membership row (by primary key): the chunk's memberships are
    few next to its profiles, and a join of the two was planned as a nested loop over both."""
    m = segment_memberships
    still = (
        sa.select(sa.literal(1))
        .select_from(profiles)
        .where(profiles.c.id == m.c.profile_id, member)
        .correlate(m)
        .exists()
    )
    statement = (
        sa.delete(m)
        .where(m.c.slug == segment.slug, m.c.profile_id == sa.any_(ids), sa.not_(still))
        .returning(m.c.profile_id)
    )
    return sorted(r[0] for r in execute(conn, statement))


def _write_checks(
    conn: Connection[Any], segment: ActiveSegment, chunk: ColumnElement[bool], now: datetime
) -> None:
    """Replace the chunk's window checks with each profile's next boundary (if it has one)."""
    boundary = next_boundary(segment.definition, now)
    if boundary is None:
        return
    c = segment_checks
    execute(
        conn,
        sa.delete(c).where(c.c.slug == segment.slug, c.c.profile_id == profiles.c.id, chunk),
    )
    due = (
        sa.select(sa.literal(segment.slug, sa.Text), profiles.c.id, boundary)
        .where(chunk)
        .subquery()
    )
    execute(
        conn,
        sa.insert(c).from_select(
            ["slug", "profile_id", "check_at"],
            sa.select(due).where(due.c[2].is_not(None)),
        ),
    )
