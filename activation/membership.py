"""Evaluating segments for a set of profiles and recording who entered and who exited.

Runs inside the caller's transaction (the processor's batch, or a scheduler job), so membership
rows, their window checks and the outbox records of every change commit with the profile change
that caused them, or not at all. Each change is one outbox row, which the relay publishes twice:
to `cdp.segments.membership` (every change) and to the compacted `cdp.segment.<slug>` (the current
membership; an exit is a tombstone).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from psycopg import Connection
from sqlalchemy.dialects.postgresql import ARRAY, TIMESTAMP
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import CTE, FromClause

from cdp.activation.catalog import ActiveSegment, load_active
from cdp.activation.relay import notify_outbox
from cdp.activation.segments.model import EventSpec
from cdp.activation.segments.sql import (
    event_depth,
    event_key,
    event_leaves,
    event_times,
    membership_condition,
    next_boundary,
)
from cdp.db.compile import compile_statement
from cdp.db.copy import copy_binary
from cdp.db.tables import profiles
from cdp.schemas import MEMBERSHIP_CHANGE, Codec

__all__ = [
    "MembershipChange",
    "SegmentCache",
    "array_text",
    "evaluate_segments",
    "write_outbox",
]


@dataclass(frozen=True)
class MembershipChange:
    segment: ActiveSegment
    profile_id: int
    change: str


class SegmentCache:
    """The active segments, re-read only when their (slug, version) list changes."""

    def __init__(self) -> None:
        self._versions: list[tuple[str, int]] = []
        self._segments: list[ActiveSegment] = []

    def current(self, conn: Connection[Any]) -> list[ActiveSegment]:
        versions = conn.execute(
            "SELECT slug, version FROM segments WHERE state = 'active' ORDER BY slug"
        ).fetchall()
        if versions != self._versions:
            rows = conn.execute(
                "SELECT slug, version, definition FROM segments WHERE state = 'active' ORDER BY slug"
            ).fetchall()
            self._segments = load_active(rows)
            self._versions = [(slug, version) for slug, version, _ in rows]
        return self._segments


def evaluate_segments(
    conn: Connection[Any],
    segments: Sequence[ActiveSegment],
    profile_ids: Sequence[int],
    codec: Codec,
    membership_topic: str,
    reason: str,
    now: datetime | None = None,
    subsets: Sequence[Collection[int]] | None = None,
) -> list[MembershipChange]:
    """Re-evaluate `segments` for `profile_ids` (merged-away ids exit everything) and record the
    changes: membership rows, window checks and outbox records.

    `subsets`, when given, holds per segment (in the order of `segments`) the profiles worth
    evaluating for it, among `profile_ids`: the others keep their membership and window checks
    as they are (the caller knows nothing they read changed).

    A fixed number of statements whatever the number of segments (each one a round trip inside
    the caller's transaction): every membership and window boundary in one `UNION ALL` (compiled
    once per set of definitions, see `_Evaluation`), the current memberships in one read,
    entries, exits, new and dropped window checks in one statement each. The changes are listed
    segment by segment in the order of `segments` (entries, then exits, by profile id).
    `segments` must have distinct slugs."""
    if not segments or not profile_ids:
        return []
    moment = now or datetime.now(UTC)
    ids = sorted(set(profile_ids))
    chosen = [ids] * len(segments) if subsets is None else [sorted(set(s)) for s in subsets]
    evaluated = ids if subsets is None else sorted({p for s in chosen for p in s})
    if not evaluated:
        return []
    statement = _Evaluation.of(segments)
    members, boundaries = statement.run(conn, [s.slug for s in segments], chosen, moment)
    current = _current(conn, segments, array_text(evaluated))
    changes: list[MembershipChange] = []
    for index, segment in enumerate(segments):
        found, held = members.get(index, set()), current.get(segment.slug, set())
        if subsets is not None:
            held &= set(chosen[index])
        changes += [MembershipChange(segment, p, "entered") for p in sorted(found - held)]
        changes += [MembershipChange(segment, p, "exited") for p in sorted(held - found)]
    _write_memberships(conn, changes)
    _write_checks(conn, boundaries)
    write_outbox(conn, changes, codec, membership_topic, reason)
    return changes


#: Per (slug, profile id) evaluated for a windowed segment: its next window boundary, or None.
Boundaries = dict[tuple[str, int], datetime | None]


class _Evaluation:
    """The membership and window-boundary statement of one list of definitions, compiled once.

    Compiling the `UNION ALL` of 50 segments takes SQLAlchemy about 20 ms, more than Postgres
    takes to run it for a batch; the text does not depend on the batch (its profile ids per
    segment and the evaluation time are parameters), so it is kept per list of definitions, and
    psycopg prepares it on the server once it has run a few times."""

    def __init__(self, segments: Sequence[ActiveSegment]) -> None:
        queries = []
        self.windowed: list[bool] = []
        shared = _SharedEvents(segments)
        self.sharing = shared.users
        for index, segment in enumerate(segments):
            ids = sa.cast(sa.bindparam(f"ids_{index}", "{}", type_=sa.Text), ARRAY(sa.BigInteger))
            columns = shared.columns(index)
            condition = membership_condition(segment.definition, None, columns)
            boundary = next_boundary(segment.definition, None, columns)
            self.windowed.append(boundary is not None)
            label = sa.literal(index, sa.Integer).label("segment")
            if boundary is None:
                query = sa.select(
                    label, profiles.c.id, sa.true().label("member"), _NO_TIME.label("check_at")
                ).where(profiles.c.merged_into.is_(None), condition, profiles.c.id == sa.any_(ids))
            else:
                member = sa.and_(profiles.c.merged_into.is_(None), condition)
                query = sa.select(
                    label, profiles.c.id, member.label("member"), boundary.label("check_at")
                ).where(profiles.c.id == sa.any_(ids))
            queries.append(query.select_from(shared.joined(index)))
        self.text, self.params = compile_statement(
            queries[0] if len(queries) == 1 else sa.union_all(*queries)
        )

    @classmethod
    def of(cls, segments: Sequence[ActiveSegment]) -> _Evaluation:
        key = tuple(s.fingerprint for s in segments)
        found = _STATEMENTS.get(key)
        if found is None:
            if len(_STATEMENTS) >= STATEMENTS_KEPT:
                _STATEMENTS.clear()
            found = _STATEMENTS[key] = cls(segments)
        return found

    def run(
        self,
        conn: Connection[Any],
        slugs: Sequence[str],
        chosen: list[list[int]],
        now: datetime,
    ) -> tuple[dict[int, set[int]], Boundaries]:
        """Per segment index, the live members among its chosen profiles; and per windowed
        segment (by slug) and chosen profile, its next boundary."""
        params = dict(self.params)
        params["now"] = now
        for index, ids in enumerate(chosen):
            params[f"ids_{index}"] = array_text(ids)
        for key, users in enumerate(self.sharing):
            params[f"events_{key}"] = array_text(sorted({p for i in users for p in chosen[i]}))
        members: dict[int, set[int]] = {}
        boundaries: Boundaries = {}
        windowed = self.windowed
        for index, pid, member, check_at in conn.execute(self.text, params).fetchall():
            if member:
                members.setdefault(index, set()).add(pid)
            if windowed[index]:
                boundaries[slugs[index], pid] = check_at
        return members, boundaries


class _SharedEvents:
    """The event leaves that several segments of one statement have in common (same
    `event_key`): each is read from the timeline once per profile, into a CTE of event times
    (`event_times`, as deep as its deepest leaf needs) over the profiles any of those segments
    evaluates, which those segments join, instead of once per segment and leaf (the synthetic
    bench's ten "Product Viewed" segments read the same events ten times, twice each)."""

    def __init__(self, segments: Sequence[ActiveSegment]) -> None:
        specs: dict[str, list[tuple[int, EventSpec]]] = {}
        for index, segment in enumerate(segments):
            for spec in event_leaves(segment.definition.condition):
                specs.setdefault(event_key(spec), []).append((index, spec))
        self.ctes: dict[str, CTE] = {}
        self.users: list[list[int]] = []
        """Per shared key (numbered as its `events_<n>` parameter), the segments reading it."""
        for key, leaves in specs.items():
            users = sorted({index for index, _ in leaves})
            if len(users) < 2:
                continue
            number = len(self.users)
            ids = sa.cast(
                sa.bindparam(f"events_{number}", "{}", type_=sa.Text), ARRAY(sa.BigInteger)
            )
            depth = max(event_depth(spec) for _, spec in leaves)
            times = event_times(leaves[0][1], None, depth).label("times")
            self.ctes[key] = (
                sa.select(profiles.c.id.label("profile_id"), times)
                .where(profiles.c.id == sa.any_(ids))
                .cte(f"events_{number}")
            )
            self.users.append(users)
        self._keys = [
            sorted(
                {event_key(s) for s in event_leaves(segment.definition.condition)} & set(self.ctes)
            )
            for segment in segments
        ]

    def columns(self, index: int) -> dict[str, ColumnElement[Any]]:
        """The shared event times segment `index` reads, by key."""
        return {key: self.ctes[key].c.times for key in self._keys[index]}

    def joined(self, index: int) -> FromClause:
        """`profiles`, joined to the shared event times segment `index` reads."""
        joined: FromClause = profiles
        for key in self._keys[index]:
            cte = self.ctes[key]
            joined = joined.join(cte, cte.c.profile_id == profiles.c.id)
        return joined


#: Statements kept: one per list of definitions evaluated together (the processor's active list;
#: the scheduler's lists vary more); a process cycling through more starts over.
STATEMENTS_KEPT = 32
_STATEMENTS: dict[tuple[str, ...], _Evaluation] = {}
_NO_TIME = sa.cast(sa.null(), TIMESTAMP(timezone=True))


def _current(
    conn: Connection[Any], segments: Sequence[ActiveSegment], batch: str
) -> dict[str, set[int]]:
    """Per slug, the batch's profiles currently recorded as members: one statement."""
    rows = conn.execute(
        "SELECT slug, profile_id FROM segment_memberships "
        "WHERE slug = ANY(%s::text[]) AND profile_id = ANY(%s::bigint[])",
        (slug_array([s.slug for s in segments]), batch),
    ).fetchall()
    found: dict[str, set[int]] = {}
    for slug, pid in rows:
        found.setdefault(slug, set()).add(pid)
    return found


def _write_memberships(conn: Connection[Any], changes: list[MembershipChange]) -> None:
    """Insert the entries, delete the exits. The entries go by binary COPY: 8,000 rows (a
    batch of `cdp bench pipeline --segments 50`) took 47 ms where `INSERT ... SELECT unnest`
    took 60, client included."""
    entered = [c for c in changes if c.change == "entered"]
    exited = [c for c in changes if c.change == "exited"]
    if entered:
        copy_binary(
            conn,
            "segment_memberships (slug, profile_id, version)",
            ["text", "int8", "int4"],
            [(c.segment.slug, c.profile_id, c.segment.version) for c in entered],
        )
    if exited:
        conn.execute(
            "DELETE FROM segment_memberships m USING unnest(%s::text[], %s::bigint[]) AS x(slug, p) "
            "WHERE m.slug = x.slug AND m.profile_id = x.p",
            (
                slug_array([c.segment.slug for c in exited]),
                array_text([c.profile_id for c in exited]),
            ),
        )


def _write_checks(conn: Connection[Any], boundaries: Boundaries) -> None:
    """Remember when each profile's membership may next change by time alone (windows): a
    check per evaluated (windowed segment, profile) with a boundary, written only when it moved;
    none for those without.

    One `MERGE` (an upsert and a delete before): it needs no speculative insert nor a tuple lock
    per updated row, and every writer of a profile's checks holds the profile's row lock (the
    processor's batch, the scheduler, a backfill chunk), so no concurrent insert can race it."""
    if not boundaries:
        return
    keys = list(boundaries)
    conn.execute(
        "MERGE INTO segment_checks AS c "
        "USING unnest(%s::text[], %s::bigint[], %s::timestamptz[]) AS x(slug, p, check_at) "
        "ON c.slug = x.slug AND c.profile_id = x.p "
        "WHEN MATCHED AND x.check_at IS NULL THEN DELETE "
        "WHEN MATCHED AND c.check_at IS DISTINCT FROM x.check_at "
        "THEN UPDATE SET check_at = x.check_at "
        "WHEN NOT MATCHED AND x.check_at IS NOT NULL "
        "THEN INSERT (slug, profile_id, check_at) VALUES (x.slug, x.p, x.check_at)",
        (
            slug_array([slug for slug, _ in keys]),
            array_text([pid for _, pid in keys]),
            "{" + ",".join(_time_text(boundaries[key]) for key in keys) + "}",
        ),
    )


def _time_text(at: datetime | None) -> str:
    """`at` as an element of timestamptz array text."""
    return "NULL" if at is None else f'"{at.isoformat()}"'


def write_outbox(
    conn: Connection[Any],
    changes: list[MembershipChange],
    codec: Codec,
    membership_topic: str,
    reason: str,
) -> None:
    """Queue each change for the relay, in order: one row for the membership topic that the relay
    fans out to the segment's topic (an exit is a tombstone there, see `OutboxRelay`). One COPY
    for all the rows, in the binary format: the keys and values go as they are, where the text
    format has them hex-encoded and decoded again (a third of the COPY's Postgres CPU)."""
    if not changes:
        return
    emitted = _emitted(conn, changes)
    now_ms = int(time.time() * 1000)
    rows: list[tuple[str, bytes, bytes, str, bool]] = []
    append = rows.append
    topics: dict[str, tuple[str, tuple[Sequence[str], Sequence[str]]]] = {}
    carried: dict[tuple[tuple[Sequence[str], Sequence[str]], int], tuple[str, list[str]]] = {}
    keys: dict[int, bytes] = {}
    for change, change_id in zip(changes, change_ids(len(changes)), strict=True):
        segment, pid = change.segment, change.profile_id
        found = topics.get(segment.slug)
        if found is None:
            emit = segment.definition.emit
            found = topics[segment.slug] = (
                segment.definition.topic,
                (emit.traits, emit.identifiers),
            )
        topic, emits = found
        traits = carried.get((emits, pid))
        if traits is None:
            subset, identifiers = emitted[emits].get(pid, ({}, []))
            traits = carried[emits, pid] = (orjson.dumps(subset).decode(), identifiers)
        key = keys.get(pid)
        if key is None:
            key = keys[pid] = str(pid).encode()
        record = {
            "change_id": change_id,
            "segment": segment.slug,
            "segment_version": segment.version,
            "profile_id": pid,
            "change": change.change,
            "at": now_ms,
            "traits": traits[0],
            "identifiers": traits[1],
            "reason": reason,
        }
        value = codec.encode(MEMBERSHIP_CHANGE, record)
        append((membership_topic, key, value, topic, change.change != "entered"))
    copy_binary(
        conn,
        "outbox (topic, key, value, fanout_topic, fanout_tombstone)",
        ["text", "bytea", "bytea", "text", "bool"],
        rows,
    )
    notify_outbox(conn)


#: Per profile: the emitted traits (in the stored order) and "type:value" identifiers.
Emitted = dict[int, tuple[dict[str, Any], list[str]]]


def _emitted(
    conn: Connection[Any], changes: list[MembershipChange]
) -> dict[tuple[Sequence[str], Sequence[str]], Emitted]:
    """What each change's record carries, by (traits, identifiers) emitted: only those traits
    and identifiers are read, each subset chosen in SQL (identifiers by type, then value).

    The type test is written ``(i.id_type || '') = ANY(...)`` so that it cannot use the primary
    key's index: with stale statistics the planner ANDed a scan of every identifier of the type
    with the profile's own few, 0.45 ms a row and growing with the table (`cdp bench activation`
    p99 17-36 s → 2.2 s); the profile index alone finds a handful of rows to filter."""
    wanted: dict[tuple[Sequence[str], Sequence[str]], set[int]] = {}
    for change in changes:
        emit = change.segment.definition.emit
        wanted.setdefault((emit.traits, emit.identifiers), set()).add(change.profile_id)
    found: dict[tuple[Sequence[str], Sequence[str]], Emitted] = {}
    for (traits, identifiers), ids in wanted.items():
        rows = conn.execute(
            "SELECT p.id, (SELECT jsonb_object_agg(t.key, t.value) FROM jsonb_each(p.traits) t "
            "WHERE t.key = ANY(%s::text[]))::text, ARRAY(SELECT i.id_type || ':' || i.id_value "
            "FROM identifiers i WHERE i.profile_id = p.id AND (i.id_type || '') = ANY(%s::text[]) "
            "ORDER BY i.id_type, i.id_value) FROM profiles p WHERE p.id = ANY(%s::bigint[])",
            (list(traits), list(identifiers), array_text(sorted(ids))),
        ).fetchall()
        found[traits, identifiers] = {
            pid: (_json_object(subset), idents) for pid, subset, idents in rows
        }
    return found


#: 16 digits in a row may be an integer that a 64-bit one or a double cannot hold exactly.
_LONG_DIGITS = re.compile(r"\d{16}")


def _json_object(text: str | None) -> dict[str, Any]:
    """A jsonb object's text as Python, exactly as psycopg's json loader (the standard library)
    reads it: orjson, at a fraction of the time, unless the text has a long digit run (orjson reads
    integers beyond 64 bits as floats) or orjson refuses it (numbers beyond a double)."""
    if text is None:
        return {}
    try:
        value = json.loads(text) if _LONG_DIGITS.search(text) else orjson.loads(text)
    except orjson.JSONDecodeError:
        value = json.loads(text)
    return value if isinstance(value, dict) else {}


def change_ids(count: int) -> list[str]:
    """`count` random version-4 UUIDs as text, as `str(uuid.uuid4())` makes them, from one
    `os.urandom` call: a tenth of the time, which counts at one per membership change."""
    raw = os.urandom(16 * count).hex()
    out = []
    for start in range(0, 32 * count, 32):
        h = raw[start : start + 32]
        variant = "89ab"[int(h[16], 16) & 3]
        out.append(f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:32]}")
    return out


def slug_array(slugs: list[str]) -> str:
    """Segment slugs as Postgres array text, each quoted (a slug may be `null`); slugs have no
    quote or backslash to escape (`SLUG`)."""
    return "{" + ",".join(f'"{slug}"' for slug in slugs) + "}"


def array_text(ids: list[int]) -> str:
    """`ids` as Postgres array text: psycopg adapts a list at about 3 µs per element in
    Python, joining the text takes a tenth of that."""
    return "{" + ",".join(map(str, ids)) + "}"
