"""Set-based SQL for one batch, on a psycopg connection inside the batch's transaction.

Locking, in this order, makes concurrent processors safe: transaction-level advisory locks on the
batch's identifiers (sorted by key, so every processor takes them in one global order and none can
create an identifier another is resolving), then the rows of the profiles holding them (sorted by
id), re-read until the view is stable. A deadlock between rounds is possible and is retried by the
caller; a lost merge or two profiles for one identifier is not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from psycopg import Connection
from psycopg.types.json import Jsonb

from cdp.identity import Identifier
from cdp.profiles.state import BatchState, IdentifierRow, ProfileState

__all__ = [
    "dedupe",
    "load_state",
    "lock_identifiers",
    "write_state",
]

#: Re-reading converges in one or two rounds; a bound keeps a pathological case from spinning.
MAX_LOCK_ROUNDS = 20


def dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def jsonb(value: Any) -> Jsonb:
    return Jsonb(value, dumps=_dumps)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def lock_key(identifier: Identifier) -> int:
    """A stable signed 64-bit advisory-lock key for `identifier`."""
    digest = hashlib.blake2b(
        f"{identifier.type}\x00{identifier.value}".encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big", signed=True)


def dedupe(conn: Connection[Any], message_ids: Sequence[str]) -> set[str]:
    """Record `message_ids` as processed; returns those never processed before."""
    if not message_ids:
        return set()
    rows = conn.execute(
        "INSERT INTO processed_messages (message_id) SELECT DISTINCT unnest(%s::text[]) "
        "ON CONFLICT DO NOTHING RETURNING message_id",
        (list(message_ids),),
    ).fetchall()
    return {row[0] for row in rows}


def lock_identifiers(conn: Connection[Any], identifiers: Iterable[Identifier]) -> None:
    keys = sorted({lock_key(i) for i in identifiers})
    if keys:
        conn.execute(
            "SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) AS k ORDER BY k", (keys,)
        )


def _owners(conn: Connection[Any], identifiers: Sequence[Identifier]) -> dict[Identifier, int]:
    if not identifiers:
        return {}
    rows = conn.execute(
        "SELECT i.id_type, i.id_value, i.profile_id FROM identifiers i "
        "JOIN unnest(%s::text[], %s::text[]) AS k(t, v) ON i.id_type = k.t AND i.id_value = k.v",
        ([i.type for i in identifiers], [i.value for i in identifiers]),
    ).fetchall()
    return {Identifier(t, v): p for t, v, p in rows}


def _lock_profiles(conn: Connection[Any], ids: set[int]) -> dict[int, ProfileState]:
    rows = conn.execute(
        "SELECT id, traits, trait_times, computed, merge_count, merged_into, created_at FROM profiles "
        "WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
        (sorted(ids),),
    ).fetchall()
    return {
        r[0]: ProfileState(r[0], r[1], r[2], r[3], r[4], ms(r[6]), merged_into=r[5]) for r in rows
    }


def load_state(conn: Connection[Any], identifiers: Sequence[Identifier]) -> BatchState:
    """Lock and load every profile holding one of `identifiers`, with all their identifiers."""
    wanted = sorted(set(identifiers))
    locked: dict[int, ProfileState] = {}
    for _ in range(MAX_LOCK_ROUNDS):
        owners = _owners(conn, wanted)
        missing = set(owners.values()) - set(locked)
        if not missing:
            break
        fresh = _lock_profiles(conn, missing)
        locked.update(fresh)
        for profile in fresh.values():
            if profile.merged_into is not None and profile.merged_into not in locked:
                locked.update(_lock_profiles(conn, {profile.merged_into}))
    else:
        raise RuntimeError("identity graph did not settle while locking")
    state = BatchState()
    for profile in locked.values():
        if profile.merged_into is None:
            state.add_loaded_profile(profile)
    live = [p for p in state.profiles]
    if live:
        rows = conn.execute(
            "SELECT id_type, id_value, profile_id, first_seen, last_seen FROM identifiers WHERE profile_id = ANY(%s)",
            (live,),
        ).fetchall()
        for t, v, p, first, last in rows:
            state.add_loaded_identifier(Identifier(t, v), IdentifierRow(p, ms(first), ms(last)))
    return state


def allocate_ids(conn: Connection[Any], state: BatchState) -> dict[int, int]:
    """Real ids for the batch's new profiles that survived it; temp id → real id."""
    new = sorted(
        (p.id for p in state.profiles.values() if p.is_new and p.merged_into is None), reverse=True
    )
    if not new:
        return {}
    rows = conn.execute(
        "SELECT nextval(pg_get_serial_sequence('profiles', 'id')) FROM generate_series(1, %s)",
        (len(new),),
    ).fetchall()
    return {temp: row[0] for temp, row in zip(new, rows, strict=True)}


def write_state(conn: Connection[Any], state: BatchState, real: dict[int, int]) -> None:
    """Write the profiles, identifiers and merges the batch changed; `real` maps temp ids."""

    def rid(profile_id: int) -> int:
        final = state.final_id(profile_id)
        return real.get(final, final)

    new_rows = []
    updates = []
    for p in state.profiles.values():
        if p.is_new:
            if p.merged_into is None:
                new_rows.append(
                    (
                        real[p.id],
                        jsonb(p.traits),
                        jsonb(p.trait_times),
                        jsonb(p.computed),
                        p.merge_count,
                        dt(p.created_ms),
                    )
                )
        elif p.dirty:
            merged = rid(p.merged_into) if p.merged_into is not None else None
            updates.append(
                (
                    jsonb(p.traits),
                    jsonb(p.trait_times),
                    jsonb(p.computed),
                    p.merge_count,
                    merged,
                    p.id,
                )
            )
    with conn.cursor() as cur:
        if new_rows:
            cur.executemany(
                "INSERT INTO profiles (id, traits, trait_times, computed, merge_count, created_at) "
                "OVERRIDING SYSTEM VALUE VALUES (%s, %s, %s, %s, %s, %s)",
                new_rows,
            )
        if updates:
            cur.executemany(
                "UPDATE profiles SET traits = %s, trait_times = %s, computed = %s, merge_count = %s, "
                "merged_into = %s, updated_at = now() WHERE id = %s",
                updates,
            )
        idents = [
            (i.type, i.value, rid(row.profile_id), dt(row.first_seen), dt(row.last_seen))
            for i, row in state.identifiers.items()
            if row.dirty
        ]
        if idents:
            cur.executemany(
                "INSERT INTO identifiers (id_type, id_value, profile_id, first_seen, last_seen) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (id_type, id_value) DO UPDATE SET profile_id = EXCLUDED.profile_id, "
                "first_seen = LEAST(identifiers.first_seen, EXCLUDED.first_seen), "
                "last_seen = GREATEST(identifiers.last_seen, EXCLUDED.last_seen)",
                idents,
            )
        _write_merges(cur, state, rid)


def _write_merges(cur: Any, state: BatchState, rid: Any) -> None:
    """Record merges of stored profiles and re-point their timeline and group memberships."""
    stored = [m for m in state.merges if not state.profiles[m.from_profile].is_new]
    if not stored:
        return
    cur.executemany(
        "INSERT INTO merges (from_profile, into_profile, reason, message_id) VALUES (%s, %s, %s, %s)",
        [(m.from_profile, rid(m.into_profile), m.reason, m.message_id) for m in stored],
    )
    moves = [(rid(m.from_profile), m.from_profile) for m in stored]
    cur.executemany("UPDATE events SET profile_id = %s WHERE profile_id = %s", moves)
    cur.executemany(
        "INSERT INTO group_members (group_id, profile_id, first_seen, last_seen) "
        "SELECT group_id, %s, first_seen, last_seen FROM group_members WHERE profile_id = %s "
        "ON CONFLICT (group_id, profile_id) DO UPDATE SET "
        "first_seen = LEAST(group_members.first_seen, EXCLUDED.first_seen), "
        "last_seen = GREATEST(group_members.last_seen, EXCLUDED.last_seen)",
        moves,
    )
    cur.execute(
        "DELETE FROM group_members WHERE profile_id = ANY(%s)", ([m.from_profile for m in stored],)
    )
