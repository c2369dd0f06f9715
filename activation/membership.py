"""Evaluating segments for a set of profiles and recording who entered and who exited.

Runs inside the caller's transaction (the processor's batch, or a scheduler job), so membership
rows, their window checks and the outbox records of every change commit with the profile change
that caused them, or not at all. Each change is published twice by the relay: to
`cdp.segments.membership` (every change) and to the compacted `cdp.segment.<slug>` (the current
membership; an exit is a tombstone).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from psycopg import Connection

from cdp.activation.catalog import ActiveSegment, load_active
from cdp.activation.segments import live_members_query, next_boundary
from cdp.db.compile import execute
from cdp.db.tables import profiles
from cdp.schemas import MEMBERSHIP_CHANGE, Codec

__all__ = ["MembershipChange", "SegmentCache", "evaluate_segments", "write_outbox"]


@dataclass(frozen=True)
class MembershipChange:
    segment: ActiveSegment
    profile_id: int
    change: str


class SegmentCache:
    """The active segments, re-read only when their (slug, version) list changes."""

    def __init__(self) -> None:
        self._versions: list[tuple[str, int]] = []
        self._segments: list[ActiveSegment] = []

    def current(self, conn: Connection[Any]) -> list[ActiveSegment]:
        versions = conn.execute(
            "SELECT slug, version FROM segments WHERE state = 'active' ORDER BY slug"
        ).fetchall()
        if versions != self._versions:
            rows = conn.execute(
                "SELECT slug, version, definition FROM segments WHERE state = 'active' ORDER BY slug"
            ).fetchall()
            self._segments = load_active(rows)
            self._versions = [(slug, version) for slug, version, _ in rows]
        return self._segments


def evaluate_segments(
    conn: Connection[Any],
    segments: Sequence[ActiveSegment],
    profile_ids: Sequence[int],
    codec: Codec,
    membership_topic: str,
    reason: str,
    now: datetime | None = None,
) -> list[MembershipChange]:
    """Re-evaluate `segments` for `profile_ids` (merged-away ids exit everything) and record the
    changes: membership rows, window checks and outbox records."""
    if not segments or not profile_ids:
        return []
    moment = now or datetime.now(UTC)
    ids = sorted(set(profile_ids))
    changes: list[MembershipChange] = []
    for segment in segments:
        members = {
            row[0] for row in execute(conn, live_members_query(segment.definition, moment, ids))
        }
        current = {
            row[0]
            for row in conn.execute(
                "SELECT profile_id FROM segment_memberships WHERE slug = %s AND profile_id = ANY(%s)",
                (segment.slug, ids),
            ).fetchall()
        }
        entered, exited = sorted(members - current), sorted(current - members)
        _write_memberships(conn, segment, entered, exited)
        _write_checks(conn, segment, ids, moment)
        changes += [MembershipChange(segment, p, "entered") for p in entered]
        changes += [MembershipChange(segment, p, "exited") for p in exited]
    write_outbox(conn, changes, codec, membership_topic, reason)
    return changes


def _write_memberships(
    conn: Connection[Any], segment: ActiveSegment, entered: list[int], exited: list[int]
) -> None:
    if entered:
        conn.execute(
            "INSERT INTO segment_memberships (slug, profile_id, version) SELECT %s, p, %s FROM unnest(%s::bigint[]) AS p",
            (segment.slug, segment.version, entered),
        )
    if exited:
        conn.execute(
            "DELETE FROM segment_memberships WHERE slug = %s AND profile_id = ANY(%s)",
            (segment.slug, exited),
        )


def _write_checks(
    conn: Connection[Any], segment: ActiveSegment, ids: list[int], now: datetime
) -> None:
    """Remember when each profile's membership may next change by time alone (windows)."""
    boundary = next_boundary(segment.definition, now)
    if boundary is None:
        return
    rows = execute(conn, sa.select(profiles.c.id, boundary).where(profiles.c.id.in_(ids)))
    due = [(segment.slug, pid, at) for pid, at in rows if at is not None]
    conn.execute(
        "DELETE FROM segment_checks WHERE slug = %s AND profile_id = ANY(%s)", (segment.slug, ids)
    )
    if due:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO segment_checks (slug, profile_id, check_at) VALUES (%s, %s, %s)", due
            )


def write_outbox(
    conn: Connection[Any],
    changes: list[MembershipChange],
    codec: Codec,
    membership_topic: str,
    reason: str,
) -> None:
    """Queue each change for the relay: to the membership topic, and to the segment's topic."""
    if not changes:
        return
    ids = sorted({c.profile_id for c in changes})
    traits = dict(
        conn.execute("SELECT id, traits FROM profiles WHERE id = ANY(%s)", (ids,)).fetchall()
    )
    idents: dict[int, list[tuple[str, str]]] = {}
    for t, v, p in conn.execute(
        "SELECT id_type, id_value, profile_id FROM identifiers WHERE profile_id = ANY(%s) ORDER BY id_type, id_value",
        (ids,),
    ).fetchall():
        idents.setdefault(p, []).append((t, v))
    now_ms = int(time.time() * 1000)
    rows: list[tuple[str, bytes, bytes | None]] = []
    for change in changes:
        emit = change.segment.definition.emit
        record = {
            "change_id": str(uuid.uuid4()),
            "segment": change.segment.slug,
            "segment_version": change.segment.version,
            "profile_id": change.profile_id,
            "change": change.change,
            "at": now_ms,
            "traits": orjson.dumps(
                {k: v for k, v in traits.get(change.profile_id, {}).items() if k in emit.traits}
            ).decode(),
            "identifiers": [
                f"{t}:{v}" for t, v in idents.get(change.profile_id, []) if t in emit.identifiers
            ],
            "reason": reason,
        }
        value = codec.encode(MEMBERSHIP_CHANGE, record)
        key = str(change.profile_id).encode()
        rows.append((membership_topic, key, value))
        rows.append(
            (change.segment.definition.topic, key, value if change.change == "entered" else None)
        )
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO outbox (topic, key, value) VALUES (%s, %s, %s)", rows)
