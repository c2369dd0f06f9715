"""Taking a batch's identity locks without queueing behind another processor's transaction.

Two processors on one topic often hold batches that share a person (one device's events on
one partition, another device's or the backend's on another), and each batch holds the locks
of its identifiers and profiles until it commits. Waiting for every lock made a batch wait out
the other processor's whole transaction whenever one person was shared, which was nearly every
batch. Instead, the locks are tried: an event whose identifiers and profiles are all free is
applied now, and the events linked to a busy one (through identifiers shared in the batch, so
one person's events stay in order) are deferred to the next batch, which tries again. An event
deferred `MAX_DEFERRALS` times has its locks waited for, as every lock was before.

Deferring is safe because the processor stores, for a partition with deferred events, the
offset of the first of them: after a crash or a rebalance the partition is read again from
there, and the events after it that were applied are dropped as duplicates by messageId.

`cdp bench pipeline --processors 2` (200,000 events, 20,000 persons): 20,300-20,900 events/s
waiting for every lock, 23,400 deferring. Of the processors' Postgres sessions sampled busy
or inside a transaction, 32% were waiting for a lock (advisory or row), against 5%.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

from psycopg import Connection

from cdp.profiles.store import int_array, lock_keys

__all__ = ["MAX_DEFERRALS", "Links", "held_back", "lock_or_defer"]

#: Batches that may defer one event before the next waits for its locks, so that a person
#: another processor keeps busy cannot hold an event back for ever. Each deferral costs the
#: event about one batch of latency (a few hundred ms with a backlog).
MAX_DEFERRALS = 4

_TRY_LOCKS = "SELECT k FROM unnest(%s::bigint[]) AS k WHERE NOT pg_try_advisory_xact_lock(k)"


def lock_or_defer(
    conn: Connection[Any], keys: Sequence[Iterable[int]], waiting: Collection[int]
) -> set[int]:
    """Lock the advisory keys `keys[i]` of each event in the caller's transaction: waiting for
    those of the events whose index is in `waiting` (in key order, as every processor does),
    then trying the rest. Return the keys another transaction holds, which this one did not
    take."""
    must = {k for i in waiting for k in keys[i]}
    lock_keys(conn, must)
    rest = {k for ks in keys for k in ks} - must
    if not rest:
        return set()
    return {r[0] for r in conn.execute(_TRY_LOCKS, (int_array(rest),)).fetchall()}


class Links:
    """The events of a batch linked by shared lock keys, directly or through other events:
    the events of one person, as far as the batch shows."""

    def __init__(self, keys: Sequence[Iterable[int]]) -> None:
        self._parent: dict[int, int] = {}
        self._firsts: list[int | None] = []
        for ks in keys:
            first: int | None = None
            for k in ks:
                if first is None:
                    first = self._root(k)
                    self._parent.setdefault(first, first)
                else:
                    other = self._root(k)
                    if other != first:
                        self._parent[other] = first
            self._firsts.append(first)

    def _root(self, key: int) -> int:
        parent = self._parent
        while (up := parent.get(key, key)) != key:
            parent[key] = parent.get(up, up)
            key = up
        return key

    def _group(self, index: int) -> int | None:
        first = self._firsts[index]
        return None if first is None else self._root(first)

    def linked(self, indices: Iterable[int]) -> set[int]:
        """The indices of the events linked to one of `indices`, those included."""
        out = set(indices)
        groups = {g for i in out if (g := self._group(i)) is not None}
        if groups:
            out.update(i for i in range(len(self._firsts)) if self._group(i) in groups)
        return out

    def split(self, busy: set[int]) -> tuple[list[int], list[int]]:
        """The indices of the events to apply now and of those to defer, each in batch order.

        An event is deferred when it, or an event linked to it, has a key in `busy`: resolving
        it now could read an identity graph another transaction is changing, and applying an
        event linked to it first would reorder the events of one person.
        """
        count = len(self._firsts)
        if not busy:
            return list(range(count)), []
        blocked = {self._root(k) for k in busy if k in self._parent}
        now: list[int] = []
        later: list[int] = []
        for i in range(count):
            (later if self._group(i) in blocked else now).append(i)
        return now, later


def held_back(next_offsets: dict[int, int], deferred: Iterable[tuple[int, int]]) -> dict[int, int]:
    """The offsets to store: `next_offsets`, except that a partition with deferred events
    (`(partition, offset)` pairs) is stored at its first deferred event, to be read again
    from there if the deferred events are lost with the process."""
    out = dict(next_offsets)
    for partition, offset in deferred:
        out[partition] = min(out.get(partition, offset), offset)
    return out
