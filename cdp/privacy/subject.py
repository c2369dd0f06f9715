"""Finding everything that is one person: the live profile, the profiles merged into it, and
the identifiers they hold; under the processor's locks when the caller is going to change them.

A subject is given in clear and looked up by its match value (`PiiCodec.match`); the person's
identifiers are kept as stored (match values, which are also their suppression hashes), with
those stored in clear (PII encryption off) marked, since their hash must still be computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import Connection

from cdp.identity import Identifier
from cdp.privacy.atrest import PiiCodec
from cdp.privacy.hashing import PROFILE_ID
from cdp.profiles.store import int_array, lock_identifiers

__all__ = ["Person", "find_person", "lock_person", "stored_subject"]

#: Merge chains are short (a guard caps merges per profile); a bound keeps a cycle from spinning.
MAX_HOPS = 1000
#: Re-reading under the locks converges in one or two rounds, as in `cdp.profiles.store`.
MAX_LOCK_ROUNDS = 10

TREE = (
    "WITH RECURSIVE tree(id) AS (SELECT %s::bigint UNION "
    "SELECT m.from_profile FROM merges m JOIN tree t ON m.into_profile = t.id) "
    "SELECT p.id FROM tree JOIN profiles p ON p.id = tree.id ORDER BY p.id"
)


@dataclass(frozen=True)
class Person:
    """One data subject as stored: `live_id` first in `profile_ids`, then merged-away ones;
    `identifiers` as stored (``id_value``), `in_clear` those of them with no sealed value."""

    live_id: int
    profile_ids: tuple[int, ...]
    identifiers: tuple[Identifier, ...]
    in_clear: frozenset[Identifier] = frozenset()


def stored_subject(subject: Identifier, codec: PiiCodec) -> Identifier:
    """The identifier as the identifiers table holds it (a profile id stays as it is)."""
    return subject if subject.type == PROFILE_ID else codec.match(subject)


def _owner(conn: Connection[Any], subject: Identifier) -> int | None:
    if subject.type == PROFILE_ID:
        return int(subject.value)
    row = conn.execute(
        "SELECT profile_id FROM identifiers WHERE id_type = %s AND id_value = %s",
        (subject.type, subject.value),
    ).fetchone()
    return None if row is None else int(row[0])


def _live(conn: Connection[Any], profile_id: int) -> int | None:
    for _ in range(MAX_HOPS):
        row = conn.execute(
            "SELECT merged_into FROM profiles WHERE id = %s", (profile_id,)
        ).fetchone()
        if row is None:
            return None
        if row[0] is None:
            return profile_id
        profile_id = int(row[0])
    return None


def find_person(conn: Connection[Any], subject: Identifier, codec: PiiCodec) -> Person | None:
    """The person holding `subject` (in clear; following merges), or None if no profile does."""
    owner = _owner(conn, stored_subject(subject, codec))
    live = _live(conn, owner) if owner is not None else None
    if live is None:
        return None
    tree = [int(r[0]) for r in conn.execute(TREE, (live,)).fetchall()]
    ids = (live, *sorted(set(tree) - {live}))
    rows = conn.execute(
        "SELECT id_type, id_value, value_enc IS NULL FROM identifiers "
        "WHERE profile_id = ANY(%s::bigint[]) ORDER BY id_type, id_value",
        (int_array(ids),),
    ).fetchall()
    stored = tuple(Identifier(t, v) for t, v, _ in rows)
    in_clear = frozenset(Identifier(t, v) for t, v, clear in rows if clear)
    return Person(live, ids, stored, in_clear)


def lock_person(conn: Connection[Any], subject: Identifier, codec: PiiCodec) -> Person | None:
    """`find_person`, holding the locks a processor batch takes for the same identifiers
    (advisory locks on their stored form, then profile rows in id order) until the caller's
    transaction ends, so no batch can attach an event to the person meanwhile."""
    person = find_person(conn, subject, codec)
    stored = stored_subject(subject, codec)
    for _ in range(MAX_LOCK_ROUNDS):
        lock_identifiers(conn, {stored, *(person.identifiers if person else ())})
        again = find_person(conn, subject, codec)
        if again == person:
            break
        person = again
    else:
        raise RuntimeError("the person's identity graph did not settle while locking")
    if person is not None:
        conn.execute(
            "SELECT id FROM profiles WHERE id = ANY(%s::bigint[]) ORDER BY id FOR UPDATE",
            (int_array(person.profile_ids),),
        )
    return person
