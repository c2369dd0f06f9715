"""Everything held on a person, as one JSON document written piece by piece.

The timeline is read with a server-side cursor and written event by event, so a person with a
million events costs no more memory than one with ten. The caller runs it in one repeatable-read
transaction so the parts agree with each other.

Everything is written decrypted: identifiers in clear (not their match values), and every sealed
string (PII traits, timeline properties and context, rows of other tables) opened; an event
with nothing sealed in it is passed through as Postgres built its text.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
from psycopg import Connection, sql

from cdp.privacy.atrest import SEALED_PREFIX, PiiCodec
from cdp.privacy.opening import open_document, open_json
from cdp.privacy.subject import Person
from cdp.privacy.tables import other_profile_tables
from cdp.profiles.store import int_array

__all__ = ["export_person"]

#: Timeline rows fetched per round trip of the server-side cursor.
FETCH_ROWS = 2000

PROFILES = (
    "SELECT id, traits, trait_times, computed, merged_into, merge_count, created_at, updated_at "
    "FROM profiles WHERE id = ANY(%s::bigint[]) ORDER BY id"
)
IDENTIFIERS = (
    "SELECT id_type, id_value, value_enc, key_id, profile_id, first_seen, last_seen "
    "FROM identifiers WHERE profile_id = ANY(%s::bigint[])"
)
GROUPS = (
    "SELECT m.group_id, coalesce(g.traits, '{}'::jsonb) AS traits, m.profile_id, m.first_seen, "
    "m.last_seen FROM group_members m LEFT JOIN groups g ON g.group_id = m.group_id "
    "WHERE m.profile_id = ANY(%s::bigint[]) ORDER BY m.group_id"
)
MEMBERSHIPS = (
    "SELECT slug, profile_id, version, since FROM segment_memberships "
    "WHERE profile_id = ANY(%s::bigint[]) ORDER BY slug"
)
MERGES = (
    "SELECT from_profile, into_profile, reason, message_id, merged_at FROM merges "
    "WHERE from_profile = ANY(%s::bigint[]) OR into_profile = ANY(%s::bigint[]) ORDER BY id"
)
#: The timeline row as JSON text, built by Postgres: properties and context are already JSON.
EVENTS = (
    "SELECT json_build_object('message_id', message_id, 'profile_id', profile_id::text, "
    "'type', type, 'name', name, 'timestamp', event_time, 'received_at', received_at, "
    "'source_id', source_id, 'properties', properties, 'context', context)::text "
    "FROM events WHERE profile_id = ANY(%s::bigint[]) ORDER BY event_time, message_id"
)


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _rows(conn: Connection[Any], query: str, *params: Any) -> list[dict[str, Any]]:
    cur = conn.execute(query, params)
    names = [c.name for c in cur.description or ()]
    out = []
    for row in cur.fetchall():
        item = dict(zip(names, row, strict=True))
        for key in ("id", "profile_id", "merged_into", "from_profile", "into_profile"):
            if item.get(key) is not None:
                item[key] = str(item[key])
        out.append(item)
    return out


def _identifiers(conn: Connection[Any], ids: str, codec: PiiCodec) -> list[dict[str, Any]]:
    """The identifiers in clear, by type then value (their match values say nothing)."""
    rows = _rows(conn, IDENTIFIERS, ids)
    for row in rows:
        blob, key_id = row.pop("value_enc"), row.pop("key_id")
        row["id_value"] = codec.open_identifier(row["id_type"], row["id_value"], blob, key_id)
    return sorted(rows, key=lambda r: (r["id_type"], r["id_value"]))


def export_person(
    conn: Connection[Any], person: Person, subject: str, codec: PiiCodec
) -> Iterator[bytes]:
    """The JSON document of `person`, decrypted, in chunks: profiles (the live one first),
    identifiers, consent, groups, segment memberships, merges, rows of other profile tables
    (deliveries), and the whole timeline, oldest first."""
    ids = int_array(person.profile_ids)
    profiles = open_document(codec, _rows(conn, PROFILES, ids))
    live = next(p for p in profiles if p["id"] == str(person.live_id))
    head = {
        "subject": subject,
        "exported_at": datetime.now(UTC).isoformat(),
        "profile_id": str(person.live_id),
        "profile": live,
        "merged_profiles": [p for p in profiles if p is not live],
        "traits": live["traits"],
        "computed_traits": live["computed"],
        "consent": live["computed"].get("consent", {}),
        "identifiers": _identifiers(conn, ids, codec),
        "groups": open_document(codec, _rows(conn, GROUPS, ids)),
        "segment_memberships": _rows(conn, MEMBERSHIPS, ids),
        "merges": _rows(conn, MERGES, ids, ids),
        "other": {
            table: open_document(codec, _table_rows(conn, table, ids))
            for table in other_profile_tables(conn)
        },
    }
    yield _dumps(head)[:-1] + b',"events":['
    count = 0
    with conn.cursor(name="privacy_export") as cur:
        cur.itersize = FETCH_ROWS
        cur.execute(EVENTS, (ids,))
        while rows := cur.fetchmany(FETCH_ROWS):
            text = ",".join(r[0] for r in rows)
            if SEALED_PREFIX in text:
                text = ",".join(open_json(codec, r[0]) for r in rows)
            chunk = text.encode()
            yield (b"," + chunk) if count else chunk
            count += len(rows)
    yield b'],"event_count":' + str(count).encode() + b"}"


def _table_rows(conn: Connection[Any], table: str, ids: str) -> list[Any]:
    query = sql.SQL(
        "SELECT to_jsonb(t)::text FROM {} t WHERE profile_id = ANY(%s::bigint[])"
    ).format(sql.Identifier(table))
    return [orjson.loads(r[0]) for r in conn.execute(query, (ids,)).fetchall()]
