"""Keeping configured computed traits up to date inside the processor's batch transaction.

Per batch, whatever its size: one statement reads the definitions (taking the shared side of the
catalog lock, see `CATALOG_LOCK`) and one `MERGE` folds the batch's matching events into every
trait; merges add two more (combine, delete).

Windowed traits fold the same way, counting only events inside the window at the batch's time,
and each windowed state remembers when its oldest counted event leaves the window
(`expires_at`). Until then no counted event has left it, so the state is exact; at that instant
`expire_due` (run by the scheduler) recomputes the state from the timeline, which holds every
contribution already (re-pointed on merges), so no second copy of them is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from psycopg import Connection
from sqlalchemy.dialects.postgresql import ARRAY

from cdp.db.compile import execute
from cdp.db.tables import computed_trait_values as ctv
from cdp.db.tables import events as timeline
from cdp.profiles import copytext
from cdp.profiles.computed.model import TraitDefinition, parse_trait
from cdp.profiles.computed.sql import (
    STATE_COLUMNS,
    BatchRows,
    aggregate,
    batch_source,
    candidate_text,
    combine_merge,
    merge_states,
)
from cdp.profiles.events import Candidate, InEvent

__all__ = ["CATALOG_LOCK", "ComputedTraits", "event_name", "refresh_windowed"]

#: The active definitions' (name, version) list and the definitions, as `ComputedTraits.current`
#: last read them.
Known = tuple[list[tuple[str, int]], list[TraitDefinition]]

#: Advisory-lock key ("cdpt") serialising catalog changes (exclusive, with their backfill) against
#: batches (shared), so that every event is counted either by the backfill or by its batch.
CATALOG_LOCK = 0x63647074

#: Compiled batch statements kept (one per set of definitions a batch hits; a few in practice).
COMPILED_CACHE = 64

_VERSIONS = (
    "WITH l AS MATERIALIZED (SELECT pg_advisory_xact_lock_shared(%s)) "
    "SELECT t.name, t.version FROM l LEFT JOIN computed_traits t ON t.state = 'active' "
    "ORDER BY t.name"
)


def event_name(event: InEvent) -> str | None:
    """The name the timeline stores for `event` (as `profiles.apply` writes it)."""
    kind = event.type
    if kind == "track":
        return event.event
    if kind in ("page", "screen"):
        return event.name
    if kind == "group":
        return event.group_id
    if kind == "alias":
        return event.previous_id
    return None


def _matches(defn: TraitDefinition, kind: str, name: str | None) -> bool:
    spec = defn.event
    return (spec.type is None or spec.type == kind) and (spec.name is None or spec.name == name)


class ComputedTraits:
    """The active definitions (re-read only when their versions change) and the per-batch step."""

    def __init__(self) -> None:
        self._known: Known = ([], [])
        """Replaced whole, never changed in place: `prepare` reads it from another thread, and
        an event's prepared candidate is reused only while the list it was made with is current."""
        self._compiled: dict[tuple[Any, ...], tuple[str, dict[str, Any]]] = {}

    def current(self, conn: Connection[Any]) -> list[TraitDefinition]:
        """The active definitions; takes the shared catalog lock for the rest of the transaction."""
        versions = [(n, v) for n, v in conn.execute(_VERSIONS, (CATALOG_LOCK,)).fetchall() if n]
        if versions != self._known[0]:
            rows = conn.execute(
                "SELECT definition FROM computed_traits WHERE state = 'active' ORDER BY name"
            ).fetchall()
            self._known = (versions, [parse_trait(r[0]) for r in rows])
        return self._known[1]

    def prepare(self, events: Sequence[InEvent]) -> None:
        """Work out, with the definitions the last batch read, which traits may count each event
        and its row of the batch statement, so that `after_batch` need not: the processor runs
        this in its prepare thread while the previous batch is written (about 20 ms of Python
        per 5,000-event batch in `cdp bench pipeline` with 20 traits). Events prepared with
        definitions that are no longer current are worked out again by `after_batch`."""
        versions, definitions = self._known
        if not definitions:
            return
        matcher = _Matcher(definitions)
        for event in events:
            event.trait_candidate = (versions, matcher.candidate(event))

    def after_batch(
        self,
        conn: Connection[Any],
        events: Sequence[InEvent],
        profile_ids: Sequence[int],
        moves: Sequence[tuple[int, int]],
        now: datetime | None = None,
    ) -> dict[str, set[int]]:
        """Fold `events` (`profile_ids[i]` is the final profile of `events[i]`) and the merges
        `moves` (merged-away profile, final survivor) into the traits; return per trait name
        the profiles whose value of it may have changed."""
        definitions = self.current(conn)
        if not definitions or (not events and not moves):
            return {}
        moment = now or datetime.now(UTC)
        rows, changed = _candidates(self._known, events, profile_ids)
        hit = set(changed)
        if moves:
            _merge(conn, moves, definitions)
            for d in definitions:
                changed.setdefault(d.name, set()).update(into for _, into in moves)
        if rows:
            text, params = self._statement(definitions, hit)
            conn.execute(text, {**params, "batch": rows.text(), "now": moment})
        return changed

    def _statement(
        self, definitions: list[TraitDefinition], hit: set[str]
    ) -> tuple[str, dict[str, Any]]:
        """The compiled batch `MERGE` for the definitions in `hit` (compiling it costs more than
        folding a batch of thousands of events, so each shape is compiled once per version)."""
        key = (tuple(self._known[0]), frozenset(hit))
        found = self._compiled.get(key)
        if found is None:
            if len(self._compiled) >= COMPILED_CACHE:
                self._compiled.clear()
            source = batch_source()
            selects = [aggregate(d, source, None) for d in definitions if d.name in hit]
            found = self._compiled[key] = combine_merge(selects)
        return found


def _candidates(
    known: Known, events: Sequence[InEvent], profile_ids: Sequence[int]
) -> tuple[BatchRows, dict[str, set[int]]]:
    """The events some definition may count (by type, name and the presence of its property;
    property conditions and windows are left to SQL), and per name of those definitions the
    profiles of the events it may count. Uses what `ComputedTraits.prepare` found for an event
    when it was made with the current definitions."""
    versions, definitions = known
    rows = BatchRows()
    hit: dict[str, set[int]] = {}
    matcher: _Matcher | None = None
    for event, pid in zip(events, profile_ids, strict=True):
        prepared = event.trait_candidate
        if prepared is not None and prepared[0] is versions:
            candidate = prepared[1]
        else:
            matcher = matcher or _Matcher(definitions)
            candidate = matcher.candidate(event)
        if candidate is None:
            continue
        traits, rest = candidate
        for trait in traits:
            hit.setdefault(trait, set()).add(pid)
        rows.add(pid, rest)
    return rows, hit


class _Matcher:
    """Which of `definitions` may count an event, remembered per event type and name."""

    def __init__(self, definitions: list[TraitDefinition]) -> None:
        self._definitions = definitions
        self._known: dict[tuple[str, str | None], dict[tuple[str, ...], list[str]]] = {}

    def candidate(self, event: InEvent) -> Candidate:
        """The names of the traits that may count `event` and its `candidate_text`; None when
        no trait may count it."""
        name = event_name(event)
        wanted = self._known.get((event.type, name))
        if wanted is None:
            wanted = {}
            for d in self._definitions:
                if _matches(d, event.type, name):
                    wanted.setdefault(tuple(d.path), []).append(d.name)
            self._known[event.type, name] = wanted
        if not wanted:
            return None
        source = event.payload()
        traits = [
            trait
            for path, names in wanted.items()
            if not path or _present(source, path)
            for trait in names
        ]
        if not traits:
            return None
        at = copytext.timestamp(event.at)
        text = event.payload_json()
        return tuple(traits), candidate_text(event.message_id, event.type, name, at, text)


def _present(value: Any, path: tuple[str, ...]) -> bool:
    """Whether the JSON object `value` may have a non-null value at `path` (as `#>` reads it):
    every kind but `counter` skips events without one. True when the path meets an array (`#>`
    may read an element by index), so it never leaves out an event SQL would count."""
    for key in path:
        if isinstance(value, list):
            return True
        if not isinstance(value, dict):
            return False
        value = value.get(key)
    return value is not None


def _merge(
    conn: Connection[Any], moves: Sequence[tuple[int, int]], definitions: list[TraitDefinition]
) -> None:
    """Combine each merged-away profile's states into its survivor's, and drop its rows."""
    names = [d.name for d in definitions]
    conn.execute(*combine_merge([merge_states(moves, names)]))
    execute(
        conn,
        sa.delete(ctv).where(
            ctv.c.profile_id == sa.any_(sa.literal([f for f, _ in moves], ARRAY(sa.BigInteger)))
        ),
    )


def refresh_windowed(
    conn: Connection[Any], definitions: list[TraitDefinition], ids: list[int], now: datetime
) -> None:
    """Recompute the windowed `definitions` of the profiles `ids` from the timeline at `now`."""
    if not definitions or not ids:
        return
    execute(
        conn,
        sa.delete(ctv).where(
            ctv.c.name == sa.any_(sa.literal([d.name for d in definitions], ARRAY(sa.Text))),
            ctv.c.profile_id == sa.any_(sa.literal(ids, ARRAY(sa.BigInteger))),
        ),
    )
    selects = [aggregate(d, timeline, now, ids) for d in definitions]
    source = selects[0] if len(selects) == 1 else sa.union_all(*selects)
    execute(conn, sa.insert(ctv).from_select(list(STATE_COLUMNS), source))
