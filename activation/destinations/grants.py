"""Entries for profiles whose consent became complete while they were waiting for it.

A consent-gated destination keeps a (segment, profile) pair as pending when it saw the profile
enter without every purpose granted, or let it go on revocation (`consent.remember_pending`).
The sweep asks here which pending pairs are deliverable now: the profile grants every purpose,
is still live (not merged away) and still a member of the (active) segment, and the destination
does not hold the pair already. Each becomes an `entered` change carrying the current
membership: its segment version, and the traits and identifiers the segment emits, read and
opened (PII at rest) as the relay would publish them.

Only pairs the agent has itself consumed become pending, never memberships read straight from
Postgres: an entry still on its way through `cdp.segments.membership` is delivered by the agent
when it arrives, so the sweep never races it into a second entry.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from psycopg import AsyncConnection

from cdp.activation.destinations.consent import required
from cdp.activation.destinations.payload import Change
from cdp.activation.segments import parse_segment
from cdp.activation.segments.model import Emit
from cdp.privacy.atrest import PiiCodec
from cdp.privacy.errors import DecryptionFailed, UnknownDataKey
from cdp.privacy.opening import open_json

__all__ = ["GRANT_NAMESPACE", "GRANT_REASON", "grant_change_id", "granted_entries"]

log = logging.getLogger(__name__)

#: Namespace of the change ids of entries made on a grant, so a re-sent one keeps its id.
GRANT_NAMESPACE = uuid.UUID("0b8c3a52-1f7e-4d0e-8f55-7c2b9e4d6a31")
GRANT_REASON = "consent_granted"

PENDING_GRANTED = (
    "SELECT d.segment, m.version, d.profile_id, d.change_id, s.definition "
    "FROM destination_pending d "
    "JOIN profiles p ON p.id = d.profile_id AND p.merged_into IS NULL "
    "JOIN segment_memberships m ON m.slug = d.segment AND m.profile_id = d.profile_id "
    "JOIN segments s ON s.slug = d.segment AND s.state = 'active' "
    "WHERE d.destination = %s AND coalesce(p.computed -> 'consent' @> %s::jsonb, false) "
    "AND NOT EXISTS (SELECT 1 FROM destination_members h WHERE h.destination = d.destination "
    "AND h.segment = d.segment AND h.profile_id = d.profile_id) "
    "ORDER BY d.profile_id, d.segment LIMIT %s"
)
EMITTED_TRAITS = (
    "SELECT p.id, (SELECT jsonb_object_agg(t.key, t.value) FROM jsonb_each(p.traits) t "
    "WHERE t.key = ANY(%s::text[]))::text FROM profiles p WHERE p.id = ANY(%s::bigint[])"
)
EMITTED_IDENTIFIERS = (
    "SELECT profile_id, id_type, id_value, value_enc, key_id FROM identifiers "
    "WHERE profile_id = ANY(%s::bigint[]) AND id_type = ANY(%s::text[]) "
    "ORDER BY profile_id, id_type, id_value"
)


def grant_change_id(destination: str, segment: str, profile_id: int, pending_change_id: str) -> str:
    """The id of the entry made for a pending pair: the same for every try (the pending row is
    gone once it is delivered), different for each time the pair becomes pending."""
    seed = f"{destination}:{segment}:{profile_id}:{pending_change_id}"
    return str(uuid.uuid5(GRANT_NAMESPACE, seed))


@dataclass(frozen=True, slots=True)
class _Pending:
    segment: str
    version: int
    profile_id: int
    change_id: str
    emit: Emit


async def granted_entries(
    conn: AsyncConnection,
    destination: str,
    purposes: Sequence[str],
    pii: PiiCodec,
    limit: int = 1000,
) -> list[Change]:
    """An `entered` change for each pending pair whose profile now grants every purpose."""
    cur = await conn.execute(PENDING_GRANTED, (destination, required(purposes), limit))
    found = [
        _Pending(segment, int(version), int(pid), ref, parse_segment(definition).emit)
        for segment, version, pid, ref, definition in await cur.fetchall()
    ]
    emitted: dict[tuple[int, Emit], tuple[dict[str, Any], list[str]]] = {}
    for emit in {p.emit for p in found}:
        ids = sorted({p.profile_id for p in found if p.emit == emit})
        for pid, data in (await _emitted(conn, emit, ids, pii)).items():
            emitted[pid, emit] = data
    now = datetime.now(UTC)
    return [
        Change(
            grant_change_id(destination, p.segment, p.profile_id, p.change_id),
            p.segment,
            p.version,
            p.profile_id,
            "entered",
            now,
            *emitted.get((p.profile_id, p.emit), ({}, [])),
            GRANT_REASON,
        )
        for p in found
    ]


async def _emitted(
    conn: AsyncConnection, emit: Emit, ids: list[int], pii: PiiCodec
) -> dict[int, tuple[dict[str, Any], list[str]]]:
    """Per profile, the traits and ``type:value`` identifiers `emit` selects, opened."""
    out: dict[int, tuple[dict[str, Any], list[str]]] = {pid: ({}, []) for pid in ids}
    if emit.traits:
        cur = await conn.execute(EMITTED_TRAITS, (list(emit.traits), ids))
        for pid, text in await cur.fetchall():
            if text is not None:
                out[pid] = (orjson.loads(open_json(pii, text)), out[pid][1])
    if emit.identifiers:
        cur = await conn.execute(EMITTED_IDENTIFIERS, (ids, list(emit.identifiers)))
        for pid, id_type, match_value, blob, key_id in await cur.fetchall():
            value = _open_identifier(pii, id_type, match_value, blob, key_id)
            if value is not None:
                out[pid][1].append(f"{id_type}:{value}")
    return out


def _open_identifier(
    pii: PiiCodec, id_type: str, match_value: str, blob: bytes | None, key_id: str | None
) -> str | None:
    """The identifier's value, or None (left out, as the relay leaves out one it cannot read)
    when it does not open."""
    try:
        return pii.open_identifier(
            id_type, match_value, bytes(blob) if blob is not None else None, key_id
        )
    except (DecryptionFailed, UnknownDataKey) as exc:
        log.warning("identifier of type %s left out of a consent entry: %s", id_type, exc)
        return None
