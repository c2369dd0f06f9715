"""Reading profiles back: by any identifier (following merges), with traits, timeline and history.

PII is stored sealed (`cdp.privacy.atrest`): a lookup hashes the identifier it is given into its
match value, and every function here returns identifiers, traits and timeline properties and
context opened, so callers see clear values and mask them as they would have before.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cdp.db.tables import (
    events,
    group_members,
    groups,
    identifiers,
    merges,
    profiles,
    segment_memberships,
    segments,
)
from cdp.identity import Identifier, IdentityRules, normalize_email, normalize_phone
from cdp.privacy.atrest import PiiCodec
from cdp.privacy.opening import open_document

__all__ = [
    "find_profile",
    "profile_events",
    "profile_groups",
    "profile_identifiers",
    "profile_merges",
    "profile_segments",
    "profile_view",
]

#: Computed traits stored as epoch milliseconds, shown as ISO 8601.
TIME_KEYS = ("first_seen", "last_seen", "last_context_at")
#: Profile ids are Postgres bigints; a larger number names no profile (and must not reach SQL).
MAX_PROFILE_ID = 2**63 - 1


def normalise_lookup(id_type: str, value: str, rules: IdentityRules) -> str | None:
    """The stored form of an identifier typed by a person (emails and phones are normalised)."""
    if id_type == "email":
        return normalize_email(value)
    if id_type == "phone":
        return normalize_phone(value, rules.phone_region)
    return value.strip() or None


def find_profile(
    conn: Connection, id_type: str, value: str, rules: IdentityRules, codec: PiiCodec
) -> int | None:
    """The live profile holding `id_type:value`; a merged-away profile id leads to its survivor.

    The value is normalised as the processor normalises it, then looked up by its match value.

    A value with a NUL character names no profile (Postgres text cannot hold one, so asking
    would be a driver error, not an answer).
    """
    if "\x00" in id_type or "\x00" in value:
        return None
    if id_type == "profile_id":
        text = value.strip()
        if not (text.isascii() and text.isdigit()) or int(text) > MAX_PROFILE_ID:
            return None
        return _follow(conn, int(text))
    stored = normalise_lookup(id_type, value, rules)
    if stored is None:
        return None
    match = codec.match(Identifier(id_type, stored)).value
    found = conn.execute(
        sa.select(identifiers.c.profile_id).where(
            identifiers.c.id_type == id_type, identifiers.c.id_value == match
        )
    ).scalar_one_or_none()
    return _follow(conn, found) if found is not None else None


def _follow(conn: Connection, profile_id: int) -> int | None:
    for _ in range(1000):
        row = conn.execute(
            sa.select(profiles.c.merged_into).where(profiles.c.id == profile_id)
        ).first()
        if row is None:
            return None
        if row[0] is None:
            return profile_id
        profile_id = row[0]
    return None


def _iso(ms: Any) -> Any:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat() if isinstance(ms, int | float) else ms


def profile_view(conn: Connection, profile_id: int, codec: PiiCodec) -> dict[str, Any]:
    """The profile's id, traits (opened) and computed traits (times as ISO 8601), merge count
    and times."""
    row = conn.execute(sa.select(profiles).where(profiles.c.id == profile_id)).mappings().one()
    computed = {k: (_iso(v) if k in TIME_KEYS else v) for k, v in row["computed"].items()}
    return {
        "profile_id": str(row["id"]),
        "traits": open_document(codec, row["traits"]),
        "computed": computed,
        "merge_count": row["merge_count"],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }


def profile_identifiers(conn: Connection, profile_id: int, codec: PiiCodec) -> list[dict[str, Any]]:
    """The identifiers the profile holds, decrypted, ordered by type then (clear) value."""
    rows = conn.execute(
        sa.select(
            identifiers.c.id_type,
            identifiers.c.id_value,
            identifiers.c.value_enc,
            identifiers.c.key_id,
            identifiers.c.first_seen,
            identifiers.c.last_seen,
        ).where(identifiers.c.profile_id == profile_id)
    ).all()
    found = [
        {
            "type": t,
            "value": codec.open_identifier(t, v, blob, key_id),
            "first_seen": f.isoformat(),
            "last_seen": last.isoformat(),
        }
        for t, v, blob, key_id, f, last in rows
    ]
    return sorted(found, key=lambda i: (i["type"], i["value"]))


def profile_events(
    conn: Connection,
    profile_id: int,
    codec: PiiCodec,
    limit: int = 50,
    before: tuple[datetime, str] | None = None,
) -> list[dict[str, Any]]:
    """The timeline, newest first, properties and context opened; `before` = (event_time,
    message_id) of the last item of the previous page."""
    query = sa.select(events).where(events.c.profile_id == profile_id)
    if before is not None:
        query = query.where(
            sa.tuple_(events.c.event_time, events.c.message_id) < sa.tuple_(*before)
        )
    rows = (
        conn.execute(
            query.order_by(events.c.event_time.desc(), events.c.message_id.desc()).limit(limit)
        )
        .mappings()
        .all()
    )
    return [
        {
            "message_id": r["message_id"],
            "type": r["type"],
            "name": r["name"],
            "timestamp": r["event_time"].isoformat(),
            "received_at": r["received_at"].isoformat(),
            "source_id": r["source_id"],
            "properties": open_document(codec, r["properties"]),
            "context": open_document(codec, r["context"]),
        }
        for r in rows
    ]


def profile_merges(conn: Connection, profile_id: int) -> list[dict[str, Any]]:
    """Every merge in the profile's history, oldest first.

    That is the merges into it, the merges into the profiles merged into it (a merged-away
    profile keeps its own earlier merges), and, for a merged-away profile, its merge away.
    """
    tree = sa.select(sa.literal(profile_id, sa.BigInteger).label("id")).cte("tree", recursive=True)
    tree = tree.union(sa.select(merges.c.from_profile).where(merges.c.into_profile == tree.c.id))
    rows = (
        conn.execute(
            sa.select(merges)
            .where(
                sa.or_(
                    merges.c.into_profile.in_(sa.select(tree.c.id)),
                    merges.c.from_profile == profile_id,
                )
            )
            .order_by(merges.c.id)
        )
        .mappings()
        .all()
    )
    return [
        {
            "from_profile": str(r["from_profile"]),
            "into_profile": str(r["into_profile"]),
            "reason": r["reason"],
            "message_id": r["message_id"],
            "merged_at": r["merged_at"].isoformat(),
        }
        for r in rows
    ]


def profile_groups(conn: Connection, profile_id: int, codec: PiiCodec) -> list[dict[str, Any]]:
    """The groups the profile belongs to, with each group's traits (opened), by group id."""
    rows = conn.execute(
        sa.select(
            groups.c.group_id,
            groups.c.traits,
            group_members.c.first_seen,
            group_members.c.last_seen,
        )
        .join(group_members, group_members.c.group_id == groups.c.group_id)
        .where(group_members.c.profile_id == profile_id)
        .order_by(groups.c.group_id)
    ).all()
    return [
        {
            "group_id": g,
            "traits": open_document(codec, t),
            "first_seen": f.isoformat(),
            "last_seen": last.isoformat(),
        }
        for g, t, f, last in rows
    ]


def profile_segments(conn: Connection, profile_id: int) -> list[dict[str, Any]]:
    """The segments the profile is a member of now, with the segment's name and since when."""
    rows = conn.execute(
        sa.select(segments.c.slug, segments.c.name, segment_memberships.c.since)
        .join(segment_memberships, segment_memberships.c.slug == segments.c.slug)
        .where(segment_memberships.c.profile_id == profile_id)
        .order_by(segments.c.slug)
    ).all()
    return [{"slug": slug, "name": name, "since": since.isoformat()} for slug, name, since in rows]
