"""The consent gate, read from Postgres at delivery time, one query per batch.

Consent lives in `profiles.computed -> 'consent' -> <purpose> -> 'granted'` (folded by the
processor, most restrictive across merges). Reading it when delivering, rather than carrying it in
the change, means a revocation that happened after the change was published still stops delivery,
and the membership change schema stays free of consent details.

A consent-gated destination remembers which profiles it holds as "entered" per segment
(`destination_members`): exits go only to profiles it holds, and a sweep sends an exit for every
held profile whose consent was revoked since. The grant side mirrors it: a pair the destination saw
enter without consent, or let go by revocation, is kept as pending (`destination_pending`, with
the id of the change that made it so), and the sweep delivers an entry for it once every purpose
is granted while the profile is still a member (see `grants`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import orjson
from psycopg import AsyncConnection

__all__ = [
    "Revoked",
    "forget_members",
    "forget_pending",
    "granted_profiles",
    "held_members",
    "prune_pending",
    "remember_members",
    "remember_pending",
    "required",
    "revoked_members",
]

#: Namespace of the change ids of exits the consent sweep makes up, so a re-sent one keeps its id.
REVOCATION_NAMESPACE = uuid.UUID("6f1f0d0e-5b1c-4c55-9a51-2f5c1e2b7a10")


def required(purposes: Sequence[str]) -> str:
    """The JSON a profile's consent must contain for every purpose to be granted."""
    return orjson.dumps({p: {"granted": True} for p in purposes}).decode()


async def granted_profiles(
    conn: AsyncConnection, purposes: Sequence[str], profile_ids: Iterable[int]
) -> set[int]:
    """The profiles among `profile_ids` that granted every purpose (missing means not granted)."""
    ids = sorted(set(profile_ids))
    if not purposes:
        return set(ids)
    if not ids:
        return set()
    cur = await conn.execute(
        "SELECT id FROM profiles WHERE id = ANY(%s) AND computed -> 'consent' @> %s::jsonb",
        (ids, required(purposes)),
    )
    return {row[0] for row in await cur.fetchall()}


async def held_members(
    conn: AsyncConnection, destination: str, pairs: Iterable[tuple[str, int]]
) -> set[tuple[str, int]]:
    """The (segment, profile) pairs among `pairs` the destination holds as entered."""
    wanted = sorted(set(pairs))
    if not wanted:
        return set()
    cur = await conn.execute(
        "SELECT segment, profile_id FROM destination_members WHERE destination = %s "
        "AND (segment, profile_id) IN (SELECT * FROM unnest(%s::text[], %s::bigint[]))",
        (destination, [p[0] for p in wanted], [p[1] for p in wanted]),
    )
    return {(row[0], row[1]) for row in await cur.fetchall()}


async def remember_members(
    conn: AsyncConnection, destination: str, pairs: Sequence[tuple[str, int]]
) -> None:
    if pairs:
        await conn.execute(
            "INSERT INTO destination_members (destination, segment, profile_id) "
            "SELECT %s, s, p FROM unnest(%s::text[], %s::bigint[]) AS u(s, p) ON CONFLICT DO NOTHING",
            (destination, [p[0] for p in pairs], [p[1] for p in pairs]),
        )


async def forget_members(
    conn: AsyncConnection, destination: str, pairs: Sequence[tuple[str, int]]
) -> None:
    await _forget(conn, "destination_members", destination, pairs)


async def remember_pending(
    conn: AsyncConnection, destination: str, rows: Sequence[tuple[str, int, str]]
) -> None:
    """Keep (segment, profile, change id) pairs as waiting for consent; a pair already waiting
    keeps its first change id, so the entry made for it later keeps one id however often the
    same suppressed change is consumed again."""
    if rows:
        await conn.execute(
            "INSERT INTO destination_pending (destination, segment, profile_id, change_id) "
            "SELECT %s, s, p, c FROM unnest(%s::text[], %s::bigint[], %s::text[]) AS u(s, p, c) "
            "ON CONFLICT DO NOTHING",
            (destination, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]),
        )


async def forget_pending(
    conn: AsyncConnection, destination: str, pairs: Sequence[tuple[str, int]]
) -> None:
    await _forget(conn, "destination_pending", destination, pairs)


async def prune_pending(
    conn: AsyncConnection, destination: str, purposes: Sequence[str], segments: Sequence[str]
) -> int:
    """Drop the destination's pending pairs that nothing would ever end: every one when it
    requires no purpose any more (the sweep grants nothing then), else those of segments it no
    longer receives (the agent filters their changes out, so neither an entry nor an exit of
    theirs reaches it). Pairs of segments it receives end through their changes. How many."""
    if purposes:
        cur = await conn.execute(
            "DELETE FROM destination_pending WHERE destination = %s "
            "AND NOT segment = ANY(%s::text[])",
            (destination, list(segments)),
        )
    else:
        cur = await conn.execute(
            "DELETE FROM destination_pending WHERE destination = %s", (destination,)
        )
    return cur.rowcount


async def _forget(
    conn: AsyncConnection,
    table: Literal["destination_members", "destination_pending"],
    destination: str,
    pairs: Sequence[tuple[str, int]],
) -> None:
    """Delete the destination's (segment, profile) `pairs` from `table`."""
    if pairs:
        await conn.execute(
            f"DELETE FROM {table} WHERE destination = %s "  # noqa: S608 - `table` is a Literal
            "AND (segment, profile_id) IN (SELECT * FROM unnest(%s::text[], %s::bigint[]))",
            (destination, [p[0] for p in pairs], [p[1] for p in pairs]),
        )


@dataclass(frozen=True, slots=True)
class Revoked:
    """A held profile that no longer grants every purpose: it gets an exit."""

    segment: str
    version: int
    profile_id: int
    change_id: str


async def revoked_members(
    conn: AsyncConnection, destination: str, purposes: Sequence[str], limit: int = 1000
) -> list[Revoked]:
    """Held (segment, profile) pairs whose profile lacks a purpose now; deterministic change ids."""
    cur = await conn.execute(
        "SELECT m.segment, coalesce(s.version, 0), m.profile_id, "
        "coalesce(p.computed -> 'consent', '{}'::jsonb)::text "
        "FROM destination_members m JOIN profiles p ON p.id = m.profile_id "
        "LEFT JOIN segments s ON s.slug = m.segment "
        "WHERE m.destination = %s AND NOT coalesce(p.computed -> 'consent' @> %s::jsonb, false) "
        "ORDER BY m.profile_id LIMIT %s",
        (destination, required(purposes), limit),
    )
    out = []
    for segment, version, profile_id, consent in await cur.fetchall():
        seed = f"{destination}:{segment}:{profile_id}:{consent}"
        change_id = str(uuid.uuid5(REVOCATION_NAMESPACE, seed))
        out.append(Revoked(segment, int(version), int(profile_id), change_id))
    return out
