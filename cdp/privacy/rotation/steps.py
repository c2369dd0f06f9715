"""One chunk of a rotation, table by table: each call does a bounded piece of work in the
caller's transaction and returns where the next one starts (None: the table is done).

Rows are taken in key order with ``FOR UPDATE SKIP LOCKED``: the rotation never waits for a
processor batch, so it can never deadlock with one, and a row a batch holds is left for the next
pass (`cdp.privacy.rotation.runner` passes again until nothing is left under an old key). A
processor batch that locks a row first and writes it back keeps its own values, sealed under
the active key; one that comes second reads the row as the rotation left it. Rows are selected
by what is under an old key, not by a position alone, so a chunk done twice (a crash between
the work and its commit rolls both back) changes nothing the second time.

Converting a database kept in clear takes every row in key order with a plain ``FOR UPDATE``
(no processor writes such a database: an encrypting processor refuses to start on it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from psycopg import Connection, sql

from cdp.identity import Identifier
from cdp.privacy.atrest import SEALED_PREFIX, PiiCodec, is_sealed
from cdp.privacy.crypto import KeyRing
from cdp.privacy.names import TRAIT_PAYLOADS
from cdp.privacy.rotation.observability import RESEALED
from cdp.privacy.rotation.reseal import reseal_blob, reseal_record, reseal_text, sealed_pattern
from cdp.profiles.pii import PiiWriter
from cdp.schemas import Codec

__all__ = [
    "CHUNK_BLOCKS",
    "CHUNK_ROWS",
    "CONVERT_STEPS",
    "ROTATE_STEPS",
    "STEPS",
    "Cursor",
    "Step",
    "Work",
]

#: Rows per chunk. Each row costs a decrypt and an encrypt per sealed value (about 10 µs) and
#: an UPDATE in a pipeline, so a chunk holds its row locks for well under 100 ms and a
#: processor batch that wants one of them waits about that long at worst.
CHUNK_ROWS = 500
#: Timeline pages per chunk (8 KiB each, about 20 events a page): a range scan by ctid reads
#: each page once over the whole pass, where a cursor by key would need an index the timeline
#: does not have.
CHUNK_BLOCKS = 32

Cursor = dict[str, Any] | None


@dataclass(frozen=True)
class Work:
    """What every chunk needs: the codec (and its key ring) of the runner's settings and the
    Avro codec of outbox rows."""

    codec: PiiCodec
    avro: Codec
    chunk_rows: int = CHUNK_ROWS
    chunk_blocks: int = CHUNK_BLOCKS
    writer: PiiWriter = field(init=False)
    """The processor's sealing of an event's context (software names left in clear), so a
    converted timeline reads exactly as one the processor wrote."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "writer", PiiWriter(self.codec))

    @property
    def ring(self) -> KeyRing:
        assert self.codec.ring is not None
        return self.codec.ring

    @property
    def old_patterns(self) -> list[str]:
        """LIKE patterns of a text holding a value under any configured key but the active."""
        return [sealed_pattern(k) for k in sorted(self.ring.key_ids) if k != self.ring.active]


Step = Callable[[Connection[Any], Work, Cursor], tuple[Cursor, int]]

#: Tables with sealed strings in JSON columns: their key columns and those JSON columns.
KEYED: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "profiles": (("id",), ("traits",)),
    "groups": (("group_id",), ("traits",)),
    "computed_trait_values": (("profile_id", "name"), ("first_value", "last_value", "counts")),
}


def _after(key: tuple[str, ...], cursor: Cursor) -> tuple[sql.Composable, list[Any]]:
    """The condition "after the cursor's key" (true without a cursor) and its parameters."""
    if cursor is None:
        return sql.SQL("true"), []
    columns = sql.SQL(", ").join(sql.Identifier(k) for k in key)
    marks = sql.SQL(", ").join(sql.Placeholder() for _ in key)
    return sql.SQL("({}) > ({})").format(columns, marks), list(cursor["after"])


def _count(table: str, moved: int) -> int:
    if moved:
        RESEALED.labels(table).inc(moved)
    return moved


# identifiers


def rotate_identifiers(conn: Connection[Any], work: Work, cursor: Cursor) -> tuple[Cursor, int]:
    """Identifier values under another key than the active one, encrypted again (same AAD)."""
    where, params = _after(("id_type", "id_value"), cursor)
    rows = conn.execute(
        sql.SQL(
            "SELECT id_type, id_value, key_id, value_enc FROM identifiers WHERE {} "
            "AND key_id IS NOT NULL AND key_id <> %s ORDER BY id_type, id_value LIMIT %s "
            "FOR UPDATE SKIP LOCKED"
        ).format(where),
        [*params, work.ring.active, work.chunk_rows],
    ).fetchall()
    updates = [
        (
            reseal_blob(work.ring, key_id, bytes(blob), f"{id_type}\x00{id_value}".encode()),
            work.ring.active,
            id_type,
            id_value,
        )
        for id_type, id_value, key_id, blob in rows
    ]
    with conn.cursor() as cur:
        cur.executemany(
            "UPDATE identifiers SET value_enc = %s, key_id = %s WHERE id_type = %s AND id_value = %s",
            updates,
        )
    return _next(rows, 2), _count("identifiers", len(rows))


def convert_identifiers(conn: Connection[Any], work: Work, cursor: Cursor) -> tuple[Cursor, int]:
    """Identifiers stored in clear replaced by their match value and their sealed value."""
    where, params = _after(("id_type", "id_value"), cursor)
    rows = conn.execute(
        sql.SQL(
            "SELECT id_type, id_value FROM identifiers WHERE {} AND key_id IS NULL "
            "ORDER BY id_type, id_value LIMIT %s FOR UPDATE"
        ).format(where),
        [*params, work.chunk_rows],
    ).fetchall()
    updates = []
    for id_type, value in rows:
        plain = Identifier(id_type, value)
        match = work.codec.match(plain)
        sealed = work.codec.seal_identifier(plain, match.value)
        assert sealed is not None
        updates.append((match.value, sealed[0], sealed[1], id_type, value))
    with conn.cursor() as cur:
        cur.executemany(
            "UPDATE identifiers SET id_value = %s, value_enc = %s, key_id = %s "
            "WHERE id_type = %s AND id_value = %s",
            updates,
        )
    return _next(rows, 2), _count("identifiers", len(rows))


def _next(rows: list[tuple[Any, ...]], width: int) -> Cursor:
    """The cursor after `rows` (None when there were none: the table is done)."""
    return {"after": list(rows[-1][:width])} if rows else None


# tables with JSON columns


def _keyed(
    table: str, convert: bool, conn: Connection[Any], work: Work, cursor: Cursor
) -> tuple[Cursor, int]:
    key, columns = KEYED[table]
    where, params = _after(key, cursor)
    texts = sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in columns)
    if convert:
        matching: sql.Composable = sql.SQL("true")
        lock = sql.SQL("FOR UPDATE")
    else:
        matching = sql.SQL("({})").format(
            sql.SQL(" OR ").join(
                sql.SQL("{}::text LIKE ANY(%s::text[])").format(sql.Identifier(c)) for c in columns
            )
        )
        params += [work.old_patterns] * len(columns)
        lock = sql.SQL("FOR UPDATE SKIP LOCKED")
    ordered = sql.SQL(", ").join(sql.Identifier(k) for k in key)
    rows = conn.execute(
        sql.SQL("SELECT {}, {} FROM {} WHERE {} AND {} ORDER BY {} LIMIT %s {}").format(
            ordered, texts, sql.Identifier(table), where, matching, ordered, lock
        ),
        [*params, work.chunk_rows],
    ).fetchall()
    updates, moved = [], 0
    for row in rows:
        values: list[str | None] = []
        changed = 0
        for text in row[len(key) :]:
            if text is None:
                values.append(None)
                continue
            if convert:
                sealed = work.codec.seal_json(text)
                changed += sealed is not text
                values.append(sealed)
            else:
                resealed, n = reseal_text(work.ring, text)
                changed += n
                values.append(resealed)
        if changed:
            updates.append((*values, *row[: len(key)]))
            moved += changed
    if updates:
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = %s::jsonb").format(sql.Identifier(c)) for c in columns
        )
        keys = sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in key)
        with conn.cursor() as cur:
            cur.executemany(
                sql.SQL("UPDATE {} SET {} WHERE {}").format(
                    sql.Identifier(table), assignments, keys
                ),
                updates,
            )
    return _next(rows, len(key)) if len(rows) >= work.chunk_rows else None, _count(table, moved)


# the timeline


def _partitions_after(conn: Connection[Any], name: str | None) -> list[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'events'::regclass AND c.relname > %s ORDER BY c.relname",
        (name or "",),
    ).fetchall()
    return [str(r[0]) for r in rows]


def _enter(conn: Connection[Any], after: str | None) -> Cursor:
    """The cursor at the first page of the partition after `after` (None: no more)."""
    names = _partitions_after(conn, after)
    if not names:
        return None
    row = conn.execute(
        sql.SQL("SELECT pg_relation_size({}) / current_setting('block_size')::int").format(
            sql.Literal(names[0])
        )
    ).fetchone()
    return {"partition": names[0], "block": 0, "blocks": int(row[0]) if row else 0}


def _events(convert: bool, conn: Connection[Any], work: Work, cursor: Cursor) -> tuple[Cursor, int]:
    """One range of pages of one timeline partition, partition by partition. Pages written
    after a partition's size was read hold rows under the active key only (or, converting, no
    rows: nothing writes a database being converted)."""
    if cursor is None:
        return _enter(conn, None) or None, 0
    name, block = str(cursor["partition"]), int(cursor["block"])
    exists = conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()
    if block >= int(cursor["blocks"]) or exists is None or exists[0] is None:
        return _enter(conn, name), 0
    end = block + work.chunk_blocks
    bounds = [f"({block},0)", f"({end},0)"]
    if convert:
        matching, params, lock = sql.SQL("true"), [], sql.SQL("FOR UPDATE")
    else:
        matching = sql.SQL(
            "(properties::text LIKE ANY(%s::text[]) OR context::text LIKE ANY(%s::text[]) "
            "OR name LIKE ANY(%s::text[]))"
        )
        params, lock = [work.old_patterns] * 3, sql.SQL("FOR UPDATE SKIP LOCKED")
    rows = conn.execute(
        sql.SQL(
            "SELECT ctid::text, type, name, properties::text, context::text FROM {} "
            "WHERE ctid >= %s::tid AND ctid < %s::tid AND {} {}"
        ).format(sql.Identifier(name), matching, lock),
        [*bounds, *params],
    ).fetchall()
    updates, moved = [], 0
    for ctid, kind, event_name, properties, context in rows:
        texts, changed = _event_texts(work, convert, kind, event_name, properties, context)
        if changed:
            updates.append((*texts, ctid))
            moved += changed
    with conn.cursor() as cur:
        cur.executemany(
            sql.SQL(
                "UPDATE {} SET name = %s, properties = %s::jsonb, context = %s::jsonb "
                "WHERE ctid = %s::tid"
            ).format(sql.Identifier(name)),
            updates,
        )
    return {**cursor, "block": end}, _count("events", moved)


def _event_texts(
    work: Work, convert: bool, kind: str, name: str | None, properties: str, context: str
) -> tuple[tuple[str | None, str, str], int]:
    """A timeline row's name (an alias's previous id is PII), properties and context as they
    are to be stored, and how many values that moved or sealed. Converting seals properties as
    the processor does: by trait names for identify and group events (their traits), else by
    property names (`PiiCodec.properties`)."""
    if convert:
        codec = work.codec if kind in TRAIT_PAYLOADS else work.codec.properties
        new_p, new_c = codec.seal_json(properties), work.writer.seal_context(context)
        changed = (new_p is not properties) + (new_c is not context)
        if kind == "alias" and name is not None and not is_sealed(name):
            name, changed = work.codec.seal_value(name), changed + 1
        return (name, new_p, new_c), changed
    (new_p, n_p), (new_c, n_c) = reseal_text(work.ring, properties), reseal_text(work.ring, context)
    new_name, n_n = (None, 0) if name is None else reseal_text(work.ring, name)
    return (new_name, new_p, new_c), n_p + n_c + n_n


# the outbox


def rotate_outbox(conn: Connection[Any], work: Work, cursor: Cursor) -> tuple[Cursor, int]:
    """Outbox records holding sealed values, written again with them under the active key.
    The relay takes rows with ``SKIP LOCKED`` too: a row it is publishing is left to it (it
    opens it with the old key, still configured) and deleted."""
    after = int(cursor["after"][0]) if cursor else 0
    rows = conn.execute(
        "SELECT id, value FROM outbox WHERE id > %s AND position(%s::bytea in value) > 0 "
        "ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
        (after, SEALED_PREFIX.encode(), work.chunk_rows),
    ).fetchall()
    updates, moved = [], 0
    for row_id, value in rows:
        data, n = reseal_record(work.ring, work.avro, bytes(value))
        if n:
            updates.append((data, row_id))
            moved += n
    with conn.cursor() as cur:
        cur.executemany("UPDATE outbox SET value = %s WHERE id = %s", updates)
    return _next(rows, 1) if len(rows) >= work.chunk_rows else None, _count("outbox", moved)


STEPS: Mapping[str, Step] = {
    "convert_identifiers": convert_identifiers,
    "convert_profiles": partial(_keyed, "profiles", True),
    "convert_groups": partial(_keyed, "groups", True),
    "convert_events": partial(_events, True),
    "identifiers": rotate_identifiers,
    "profiles": partial(_keyed, "profiles", False),
    "groups": partial(_keyed, "groups", False),
    "computed_trait_values": partial(_keyed, "computed_trait_values", False),
    "events": partial(_events, False),
    "outbox": rotate_outbox,
}
#: A database kept in clear: identifiers hashed and encrypted, PII traits and timeline values
#: sealed; then `pii_state` says encrypted.
CONVERT_STEPS = ("convert_identifiers", "convert_profiles", "convert_groups", "convert_events")
#: Every table that can hold a value under an old key.
ROTATE_STEPS = ("identifiers", "profiles", "groups", "computed_trait_values", "events", "outbox")
