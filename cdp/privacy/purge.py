"""Removing a person from Postgres, in the caller's transaction (which holds `lock_person`'s locks).

Memberships end first, as exits in the outbox (`cdp.segments.membership`, and a tombstone on each
compacted `cdp.segment.<slug>`), written while the profile's identifiers can still be read for the
segments' `emit` lists, so a destination can take the person out of its audience. With PII at
rest an outbox record names identifiers by match value, which the relay opens from the rows this
purge deletes; the exits' identifiers are therefore sealed into the records themselves
(``type:<sealed value>``, which the relay opens without a row). Then every row
naming the person goes: timeline, processed messageIds of their events, groups memberships, window
checks, merges, identifiers, unrelayed outbox records, rows of any other table with a
``profile_id``, and the profiles.
"""

from __future__ import annotations

from typing import Any

from psycopg import Connection, sql

from cdp.activation.catalog import load_active
from cdp.activation.membership import MembershipChange, write_outbox
from cdp.privacy.atrest import PiiCodec
from cdp.privacy.subject import Person
from cdp.privacy.tables import other_profile_tables
from cdp.profiles.store import int_array
from cdp.schemas import MEMBERSHIP_CHANGE, Codec

__all__ = ["purge_person"]

EXIT_REASON = "privacy_deletion"


def purge_person(
    conn: Connection[Any], person: Person, codec: Codec, membership_topic: str, pii: PiiCodec
) -> dict[str, int]:
    """Delete every row about `person`; how many rows each part had."""
    ids = int_array(person.profile_ids)
    keys = [str(p).encode() for p in person.profile_ids]
    counts = {"profiles": len(person.profile_ids), "identifiers": len(person.identifiers)}
    counts["outbox_dropped"] = _delete(conn, "DELETE FROM outbox WHERE key = ANY(%s)", keys)
    counts["memberships_exited"] = _exit_segments(conn, ids, codec, membership_topic)
    if counts["memberships_exited"] and pii.enabled:
        _seal_exit_identifiers(conn, ids, keys, codec, membership_topic, pii)
    counts["processed_messages"] = _delete(
        conn,
        "DELETE FROM processed_messages p USING events e "
        'WHERE e.profile_id = ANY(%s::bigint[]) AND p.message_id = e.message_id COLLATE "C"',
        ids,
    )
    for table in ("events", "group_members", "segment_checks", "identifiers"):
        counts[table] = _delete(
            conn,
            sql.SQL("DELETE FROM {} WHERE profile_id = ANY(%s::bigint[])").format(
                sql.Identifier(table)
            ),
            ids,
        )
    counts["merges"] = _delete(
        conn,
        "DELETE FROM merges WHERE from_profile = ANY(%s::bigint[]) OR into_profile = ANY(%s::bigint[])",
        ids,
        ids,
    )
    for table in other_profile_tables(conn):
        counts[table] = _delete(
            conn,
            sql.SQL("DELETE FROM {} WHERE profile_id = ANY(%s::bigint[])").format(
                sql.Identifier(table)
            ),
            ids,
        )
    _delete(conn, "DELETE FROM profiles WHERE id = ANY(%s::bigint[])", ids)
    counts["audit_rows_pseudonymised"] = _delete(
        conn,
        "UPDATE audit_log SET target = 'profile:deleted' WHERE target = ANY(%s)",
        [f"profile:{p}" for p in person.profile_ids],
    )
    counts["timeline_events"] = counts.pop("events")
    return counts


def _delete(conn: Connection[Any], statement: Any, *params: Any) -> int:
    return conn.execute(statement, params).rowcount


def _exit_segments(conn: Connection[Any], ids: str, codec: Codec, membership_topic: str) -> int:
    rows = conn.execute(
        "SELECT m.slug, m.profile_id, s.version, s.definition FROM segment_memberships m "
        "JOIN segments s ON s.slug = m.slug WHERE m.profile_id = ANY(%s::bigint[]) "
        "ORDER BY m.slug, m.profile_id",
        (ids,),
    ).fetchall()
    changes = [
        MembershipChange(load_active([(slug, version, definition)])[0], pid, "exited")
        for slug, pid, version, definition in rows
    ]
    write_outbox(conn, changes, codec, membership_topic, EXIT_REASON)
    conn.execute("DELETE FROM segment_memberships WHERE profile_id = ANY(%s::bigint[])", (ids,))
    return len(changes)


def _seal_exit_identifiers(
    conn: Connection[Any],
    ids: str,
    keys: list[bytes],
    codec: Codec,
    membership_topic: str,
    pii: PiiCodec,
) -> None:
    """Rewrite the exits just queued (the only membership records left for `keys`, whose older
    rows were dropped) so their ``type:<match value>`` identifiers become
    ``type:<sealed value>``."""
    rows = conn.execute(
        "SELECT id_type, id_value, value_enc, key_id FROM identifiers "
        "WHERE profile_id = ANY(%s::bigint[])",
        (ids,),
    ).fetchall()
    sealed = {
        f"{t}:{v}": f"{t}:{pii.seal_value(pii.open_identifier(t, v, blob, key_id))}"
        for t, v, blob, key_id in rows
    }
    exits = conn.execute(
        "SELECT id, value FROM outbox WHERE topic = %s AND key = ANY(%s) AND value IS NOT NULL",
        (membership_topic, keys),
    ).fetchall()
    for row_id, value in exits:
        record = codec.decode(MEMBERSHIP_CHANGE, bytes(value))
        record["identifiers"] = [sealed.get(i, i) for i in record.get("identifiers") or []]
        conn.execute(
            "UPDATE outbox SET value = %s WHERE id = %s",
            (codec.encode(MEMBERSHIP_CHANGE, record), row_id),
        )
