"""Set-based SQL for one batch, on a psycopg connection inside the batch's transaction.

Locking, in this order, makes concurrent processors safe: transaction-level advisory locks on the
batch's identifiers (sorted by key, so every processor takes them in one global order and none can
create an identifier another is resolving), then the rows of the profiles holding them (sorted by
id), re-read until the view is stable. A deadlock between rounds is possible and is retried by the
caller; a lost merge or two profiles for one identifier is not. A processor that defers contended
events (`cdp.profiles.contention`) tries the identifier locks and skips locked profile rows
instead of waiting, except for the events it has deferred too often.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from psycopg import Connection
from psycopg.types.json import Jsonb

from cdp.identity import Identifier
from cdp.profiles.copytext import timestamp
from cdp.profiles.pii import PiiWriter
from cdp.profiles.state import BatchState, IdentifierRow, ProfileState
from cdp.recent import Recent

__all__ = [
    "cached_lock_key",
    "dedupe",
    "load_state",
    "lock_identifiers",
    "lock_keys",
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


def json_param(value: Any) -> str:
    """`value` as JSON text for a ``%s::jsonb`` parameter.

    A batch's keys, ids and rows travel as one JSON document per statement rather than as
    Python lists: psycopg renders a list parameter element by element in Python (3.6 µs per
    string measured here, 18 ms for a batch of 5,000 message ids), orjson the whole document
    in C (0.03 µs per string), and Postgres parses it as fast as an array.
    """
    return orjson.dumps(value).decode()


def int_array(values: Iterable[int]) -> str:
    """Integers as a Postgres array literal for a ``%s::bigint[]`` parameter."""
    return "{" + ",".join(map(str, values)) + "}"


#: Times are written as the text of the instant `dt` gives (`copytext.timestamp`) and read as
#: ``floor(extract(epoch FROM t) * 1000)``: numeric, so exact, where `ms` on a datetime goes
#: through a float and comes out a millisecond short for about 1.5% of instants. No datetime
#: objects are made in Python either way.
LOCK_PROFILES = (
    "SELECT id, traits::text, trait_times::text, computed::text, merge_count, merged_into, "
    "floor(extract(epoch FROM created_at) * 1000)::bigint "
    "FROM profiles WHERE id = ANY(%s::bigint[]) ORDER BY id FOR UPDATE"
)
LOAD_IDENTIFIERS = (
    "SELECT id_type, id_value, profile_id, floor(extract(epoch FROM first_seen) * 1000)::bigint, "
    "floor(extract(epoch FROM last_seen) * 1000)::bigint "
    "FROM identifiers WHERE profile_id = ANY(%s::bigint[])"
)


def dedupe(conn: Connection[Any], message_ids: Sequence[str]) -> set[str]:
    """Record `message_ids` as processed; returns those never processed before. An id given
    twice is inserted once: `DO NOTHING` skips a row that conflicts with one this statement
    inserted, so the ids need no sorting out first."""
    if not message_ids:
        return set()
    rows = conn.execute(
        "INSERT INTO processed_messages (message_id) "
        "SELECT m FROM jsonb_array_elements_text(%s::jsonb) AS m "
        "ON CONFLICT DO NOTHING RETURNING message_id",
        (json_param(list(message_ids)),),
    ).fetchall()
    return {row[0] for row in rows}


#: Advisory-lock keys of identifiers seen lately, two generations of this many (`cdp.recent`):
#: the same ones recur batch after batch. The benchmark's 20,000 persons have about 83,000
#: identifiers, which a cache of 50,000 cleared when full kept recomputing (1.9% of the
#: processor's CPU went to `lock_key`); about 20 MB when both generations are full.
LOCK_KEY_GENERATION = 64_000
_lock_keys: Recent[Identifier, int] = Recent(LOCK_KEY_GENERATION)


def cached_lock_key(identifier: Identifier) -> int:
    """`lock_key(identifier)`, remembered; safe to call from the prepare thread, which warms
    the cache for the batch the main thread will lock next."""
    key = _lock_keys.current.get(identifier)
    if key is None:
        key = _lock_keys.get(identifier)
        if key is None:
            key = lock_key(identifier)
            _lock_keys.put(identifier, key)
    return key


def lock_identifiers(conn: Connection[Any], identifiers: Iterable[Identifier]) -> None:
    lock_keys(conn, {cached_lock_key(identifier) for identifier in identifiers})


def lock_keys(conn: Connection[Any], keys: Iterable[int]) -> None:
    """Wait for the transaction-level advisory locks `keys`, in key order (the one global order
    every processor takes them in, so two cannot wait for each other)."""
    ordered = sorted(set(keys))
    if ordered:
        conn.execute(
            "SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) AS k ORDER BY k",
            (int_array(ordered),),
        )


def _owners(conn: Connection[Any], identifiers: Sequence[Identifier]) -> dict[Identifier, int]:
    if not identifiers:
        return {}
    rows = conn.execute(
        "SELECT i.id_type, i.id_value, i.profile_id FROM identifiers i JOIN ROWS FROM "
        "(jsonb_array_elements_text(%s::jsonb), jsonb_array_elements_text(%s::jsonb)) AS k(t, v) "
        "ON i.id_type = k.t AND i.id_value = k.v",
        (json_param([i.type for i in identifiers]), json_param([i.value for i in identifiers])),
    ).fetchall()
    same: dict[tuple[str, str], Identifier] = {i: i for i in identifiers}  # finds a row's (t, v)
    return {same[(t, v)]: p for t, v, p in rows}


def _lock_profiles(
    conn: Connection[Any], ids: set[int], pii: PiiWriter | None, skip_locked: bool = False
) -> dict[int, ProfileState]:
    """Lock and read the profiles `ids`; with `skip_locked`, leave out those another
    transaction has locked instead of waiting for it."""
    if not ids:
        return {}
    rows = conn.execute(
        LOCK_PROFILES + " SKIP LOCKED" if skip_locked else LOCK_PROFILES,
        (int_array(sorted(ids)),),
    ).fetchall()
    loads = orjson.loads
    if pii is None or not pii.enabled:
        return {
            r[0]: ProfileState(
                r[0], loads(r[1]), loads(r[2]), loads(r[3]), r[4], r[6], merged_into=r[5]
            )
            for r in rows
        }
    out = {}
    for r in rows:
        traits, stored = pii.open_traits(r[1])
        out[r[0]] = ProfileState(
            r[0], traits, loads(r[2]), loads(r[3]), r[4], r[6], merged_into=r[5]
        )
        out[r[0]].stored_traits = stored
    return out


def load_state(
    conn: Connection[Any],
    identifiers: Sequence[Identifier],
    pii: PiiWriter | None = None,
    waiting: Collection[Identifier] | None = None,
) -> tuple[BatchState, set[Identifier]]:
    """Lock and load every profile holding one of `identifiers`, with all their identifiers;
    PII traits opened by `pii`. Return the state and the identifiers left out as busy.

    By default every profile is waited for, and none is busy. With `waiting`, only the
    profiles holding one of those are; a profile another transaction has locked is skipped
    (with a profile merged into it), and the identifiers it holds are busy: the caller must
    not fold their events in this transaction, as their profiles are not in the state.
    """
    wanted = sorted(set(identifiers))
    locked: dict[int, ProfileState] = {}
    skipped: set[int] = set()
    for _ in range(MAX_LOCK_ROUNDS):
        owners = _owners(conn, wanted)
        missing = set(owners.values()) - set(locked) - skipped
        if not missing:
            break
        must = missing if waiting is None else {owners[i] for i in waiting if i in owners}
        fresh = _lock_profiles(conn, missing & must, pii)
        fresh.update(_lock_profiles(conn, missing - must, pii, skip_locked=True))
        skipped |= missing - fresh.keys()
        locked.update(fresh)
        for profile in fresh.values():
            target = profile.merged_into
            if target is not None and target not in locked and target not in skipped:
                found = _lock_profiles(conn, {target}, pii, skip_locked=profile.id not in must)
                locked.update(found)
                if target not in found:
                    skipped.add(target)
    else:
        raise RuntimeError("identity graph did not settle while locking")
    busy = {i for i, p in owners.items() if p in skipped or locked[p].merged_into in skipped}
    state = BatchState()
    for profile in locked.values():
        if profile.merged_into is None:
            state.add_loaded_profile(profile)
    live = list(state.profiles)
    if live:
        rows = conn.execute(
            LOAD_IDENTIFIERS,
            (int_array(live),),
        ).fetchall()
        add = state.add_loaded_identifier
        known: dict[tuple[str, str], Identifier] = {i: i for i in wanted}
        for t, v, p, first, last in rows:
            add(known.get((t, v)) or Identifier(t, v), IdentifierRow(p, first, last))
    return state, busy


def allocate_ids(conn: Connection[Any], state: BatchState) -> dict[int, int]:
    """Real ids for the batch's new profiles, also those it merged away (their merges are
    recorded like any other); temp id → real id."""
    new = sorted((p.id for p in state.profiles.values() if p.is_new), reverse=True)
    if not new:
        return {}
    rows = conn.execute(
        "SELECT nextval(pg_get_serial_sequence('profiles', 'id')) FROM generate_series(1, %s)",
        (len(new),),
    ).fetchall()
    return {temp: row[0] for temp, row in zip(new, rows, strict=True)}


INSERT_PROFILES = (
    "INSERT INTO profiles (id, traits, trait_times, computed, merge_count, merged_into, "
    "created_at) OVERRIDING SYSTEM VALUE "
    "SELECT r.id, r.traits, r.trait_times, r.computed, r.merge_count, r.merged_into, r.created "
    "FROM jsonb_to_recordset(%s::jsonb) AS r(id bigint, traits jsonb, trait_times jsonb, "
    "computed jsonb, merge_count integer, merged_into bigint, created timestamptz)"
)
UPDATE_PROFILES = (
    "UPDATE profiles p SET traits = r.traits, trait_times = r.trait_times, computed = r.computed, "
    "merge_count = r.merge_count, merged_into = r.merged_into, updated_at = now() "
    "FROM jsonb_to_recordset(%s::jsonb) AS r(id bigint, traits jsonb, trait_times jsonb, "
    "computed jsonb, merge_count integer, merged_into bigint) WHERE p.id = r.id"
)
#: A row's sealed value (`e`, base64, and `k`, its key id) is given for new identifiers only
#: and never replaced by the update: a stored row keeps its ciphertext.
UPSERT_IDENTIFIERS = (
    "INSERT INTO identifiers (id_type, id_value, profile_id, first_seen, last_seen, value_enc, "
    "key_id) SELECT r.t, r.v, r.p, r.f, r.l, decode(r.e, 'base64'), r.k "
    "FROM jsonb_to_recordset(%s::jsonb) AS r(t text, v text, p bigint, f timestamptz, l timestamptz, "
    "e text, k text) "
    "ON CONFLICT (id_type, id_value) DO UPDATE SET profile_id = EXCLUDED.profile_id, "
    "first_seen = LEAST(identifiers.first_seen, EXCLUDED.first_seen), "
    "last_seen = GREATEST(identifiers.last_seen, EXCLUDED.last_seen), "
    "value_enc = COALESCE(identifiers.value_enc, EXCLUDED.value_enc), "
    "key_id = CASE WHEN identifiers.value_enc IS NULL THEN EXCLUDED.key_id "
    "ELSE identifiers.key_id END"
)


def write_state(
    conn: Connection[Any],
    state: BatchState,
    real: dict[int, int],
    pii: PiiWriter | None = None,
    plain_of: dict[Identifier, Identifier] | None = None,
) -> None:
    """Write the profiles, identifiers and merges the batch changed; `real` maps temp ids.

    One statement per table, each taking its rows as one JSON document (see `json_param`).
    With `pii` encrypting, the traits of new profiles and changed traits are sealed (a profile
    whose traits did not change is written with them as loaded, sealed as they were), and each
    new identifier row gets the sealed value of its plain identifier (`plain_of`: match
    identifier → plain one).
    """
    seal = pii if pii is not None and pii.enabled else None

    def rid(profile_id: int) -> int:
        final = state.final_id(profile_id)
        return real.get(final, final)

    new_rows = []
    updates = []
    for p in state.profiles.values():
        if seal is not None and (p.is_new or p.changed_traits):
            p.stored_traits = seal.seal_traits(p.traits, p.stored_traits)
        if p.is_new:
            new_rows.append(
                {
                    "id": real[p.id],
                    "traits": p.traits if p.stored_traits is None else p.stored_traits,
                    "trait_times": p.trait_times,
                    "computed": p.computed,
                    "merge_count": p.merge_count,
                    "created": timestamp(p.created_ms),
                }
            )
            if p.merged_into is not None:  # made and merged away in this batch
                new_rows[-1]["merged_into"] = rid(p.merged_into)
        elif p.dirty:
            updates.append(
                {
                    "id": p.id,
                    "traits": p.traits if p.stored_traits is None else p.stored_traits,
                    "trait_times": p.trait_times,
                    "computed": p.computed,
                    "merge_count": p.merge_count,
                    "merged_into": rid(p.merged_into) if p.merged_into is not None else None,
                }
            )
    with conn.cursor() as cur:
        if new_rows:
            cur.execute(INSERT_PROFILES, (json_param(new_rows),))
        if updates:
            cur.execute(UPDATE_PROFILES, (json_param(updates),))
        lookup = plain_of or {}
        idents = [
            _identifier_row(i, row, rid(row.profile_id), seal, lookup)
            for i, row in state.identifiers.items()
            if row.dirty
        ]
        if idents:
            cur.execute(UPSERT_IDENTIFIERS, (json_param(idents),))
        _write_merges(cur, state, rid, real)


def _identifier_row(
    identifier: Identifier,
    row: IdentifierRow,
    profile_id: int,
    pii: PiiWriter | None,
    plain_of: dict[Identifier, Identifier],
) -> dict[str, Any]:
    """An identifier's row for `UPSERT_IDENTIFIERS`; a new one sealed when `pii` encrypts."""
    out: dict[str, Any] = {
        "t": identifier.type,
        "v": identifier.value,
        "p": profile_id,
        "f": timestamp(row.first_seen),
        "l": timestamp(row.last_seen),
    }
    if row.new and pii is not None:
        plain = plain_of.get(identifier)
        sealed = pii.seal_identifier(plain, identifier.value) if plain is not None else None
        if sealed is not None:
            out["e"], out["k"] = sealed
    return out


def _write_merges(cur: Any, state: BatchState, rid: Any, real: dict[int, int]) -> None:
    """Record every merge, also of profiles made in this batch (under their real ids), and
    re-point the timeline and group memberships of stored ones (a new profile's rows are
    written with the survivor's id in the first place)."""
    if not state.merges:
        return
    cur.executemany(
        "INSERT INTO merges (from_profile, into_profile, reason, message_id) VALUES (%s, %s, %s, %s)",
        [
            (real.get(m.from_profile, m.from_profile), rid(m.into_profile), m.reason, m.message_id)
            for m in state.merges
        ],
    )
    stored = [m for m in state.merges if not state.profiles[m.from_profile].is_new]
    if not stored:
        return
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
