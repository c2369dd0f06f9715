"""Finding everything that is one person: the live profile, the profiles merged into it, and
the identifiers they hold; under the processor's locks when the caller is going to change them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import Connection

from cdp.identity import Identifier
from cdp.privacy.hashing import PROFILE_ID
from cdp.profiles.store import int_array, lock_identifiers

__all__ = ["Person", "find_person", "lock_person"]

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
    """One data subject as stored: `live_id` first in `profile_ids`, then merged-away ones."""

    live_id: int
    profile_ids: tuple[int, ...]
    identifiers: tuple[Identifier, ...]


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


def find_person(conn: Connection[Any], subject: Identifier) -> Person | None:
    """The person holding `subject` (following merges), or None if no profile does."""
    owner = _owner(conn, subject)
    live = _live(conn, owner) if owner is not None else None
    if live is None:
        return None
    tree = [int(r[0]) for r in conn.execute(TREE, (live,)).fetchall()]
    ids = (live, *sorted(set(tree) - {live}))
    rows = conn.execute(
        "SELECT id_type, id_value FROM identifiers WHERE profile_id = ANY(%s::bigint[]) "
        "ORDER BY id_type, id_value",
        (int_array(ids),),
    ).fetchall()
    return Person(live, ids, tuple(Identifier(t, v) for t, v in rows))


def lock_person(conn: Connection[Any], subject: Identifier) -> Person | None:
    """`find_person`, holding the locks a processor batch takes for the same identifiers
    (advisory locks, then profile rows in id order) until the caller's transaction ends, so no
    batch can attach an event to the person meanwhile."""
    person = find_person(conn, subject)
    for _ in range(MAX_LOCK_ROUNDS):
        lock_identifiers(conn, {subject, *(person.identifiers if person else ())})
        again = find_person(conn, subject)
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
