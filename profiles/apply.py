"""Applying one micro-batch of raw events to the store, in the caller's transaction.

The steps run in a fixed order: fence the partitions' offsets, drop events already applied (by
offset, then by messageId), lock and load the identity graph the batch touches, resolve and fold
every event in memory, then write profiles, identifiers, merges, the timeline, groups, the outbox
and the new offsets with set-based statements.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from psycopg import Connection

from cdp.activation.incremental import BatchChanges, IncrementalSegments
from cdp.identity import Identifier, IdentityRules, extract_identifiers, resolve
from cdp.privacy import Suppressor
from cdp.privacy.names import TRAIT_PAYLOADS
from cdp.privacy.timeline import Sealed
from cdp.profiles import copytext
from cdp.profiles.changes import change_rows, copy_changes
from cdp.profiles.computed import ComputedTraits
from cdp.profiles.computed.maintain import event_name
from cdp.profiles.contention import MAX_DEFERRALS, Links, held_back, lock_or_defer
from cdp.profiles.events import InEvent
from cdp.profiles.fold import fold_computed, fold_traits, moved_computed
from cdp.profiles.groups import GroupCalls, write_groups
from cdp.profiles.observability import StepClock
from cdp.profiles.offsets import claim_offsets, save_offsets
from cdp.profiles.pii import PiiWriter
from cdp.profiles.sealing import SealingProcess
from cdp.profiles.state import BatchState, ProfileState
from cdp.profiles.store import (
    allocate_ids,
    cached_lock_key,
    dedupe,
    load_state,
    write_state,
)
from cdp.schemas import Codec

__all__ = ["BatchApplier", "BatchOutcome"]

TIMELINE_COLUMNS = (
    "profile_id, message_id, type, name, event_time, received_at, source_id, properties, context"
)


@dataclass(frozen=True)
class BatchOutcome:
    """What one batch did."""

    applied: int
    duplicates: int
    replayed: int
    profiles_created: int
    merges: int
    changes: int
    membership_changes: int = 0
    deferred: list[InEvent] = field(default_factory=list)
    """Events left for the next batch because another transaction held their identity locks;
    the stored offset of their partition stays at the first of them."""


@dataclass
class _Timeline:
    rows: list[tuple[int, str]]
    """Per event: its profile id (maybe temporary) and the rest of its row as COPY text."""


class BatchApplier:
    """Applies batches of one topic for one consumer group."""

    def __init__(
        self,
        rules: IdentityRules,
        codec: Codec,
        group: str,
        topic: str,
        changes_topic: str,
        segments: IncrementalSegments | None = None,
        suppressor: Suppressor | None = None,
        pii: PiiWriter | None = None,
        sealer: SealingProcess | None = None,
    ) -> None:
        """`sealer`, when given (only with an encrypting `pii`: `Processor` decides), seals the
        timeline's PII in its child process (`prepare`); without it, or when it fails, `pii`
        seals it here."""
        self._rules = rules
        self._codec = codec
        self._group = group
        self._topic = topic
        self._changes_topic = changes_topic
        self._segments = segments
        self._suppressor = suppressor
        self._computed = ComputedTraits()
        self._pii = pii
        self._sealer = sealer

    def apply(
        self,
        conn: Connection[Any],
        batch: list[InEvent],
        next_offsets: dict[int, int],
        defer: bool = False,
    ) -> BatchOutcome:
        """Apply `batch` (in offset order per partition); the caller commits or rolls back.

        `next_offsets` covers every record consumed, including ones that were dead-lettered
        before reaching here, so the stored position moves past them too. With `defer`, events
        whose locks another transaction holds are left out and returned in the outcome
        (`cdp.profiles.contention`), for the caller to pass in the next batch, which tries them
        again (and waits for the locks of those deferred `MAX_DEFERRALS` times); without it,
        every lock is waited for.
        """
        clock = StepClock()
        stored = claim_offsets(conn, self._group, self._topic, sorted(next_offsets))
        fresh = [e for e in batch if e.offset >= stored.get(e.partition, 0)]
        for event in fresh:
            self._identify(event)
        if self._suppressor is not None:  # privacy: suppressed people's events leave no trace
            fresh = self._suppressor.drop(conn, fresh)
        ready, deferred, state = self._lock_and_load(conn, fresh, defer)
        unseen = dedupe(conn, [e.message_id for e in ready])
        events = _first_of_each(ready, unseen)
        idents = [self._identify(e) for e in events]
        clock.lap("load")
        timeline, groups = self._fold(state, events, idents)
        clock.lap("fold")
        real = allocate_ids(conn, state)
        sealing = self._pii is not None and self._pii.enabled
        write_state(conn, state, real, self._pii, _plain_of(events) if sealing else None)

        def final(profile_id: int) -> int:
            end = state.final_id(profile_id)
            return real.get(end, end)

        _copy_timeline(conn, timeline, final)
        write_groups(conn, groups, final, self._pii)
        rows = change_rows(state, final, real, self._codec, self._changes_topic)
        copy_changes(conn, rows)
        clock.lap("write")
        owners = [final(pid) for pid, _ in timeline.rows]
        traits_changed = self._computed_traits(conn, state, events, owners, final)
        clock.lap("computed_traits")
        memberships = self._evaluate_segments(conn, state, events, owners, final, traits_changed)
        clock.lap("segments")
        save_offsets(
            conn,
            self._group,
            self._topic,
            held_back(next_offsets, [(e.partition, e.offset) for e in deferred]),
        )
        created = sum(1 for p in state.profiles.values() if p.is_new and p.merged_into is None)
        return BatchOutcome(
            applied=len(events),
            duplicates=len(ready) - len(events),
            replayed=len(batch) - len(fresh),
            profiles_created=created,
            merges=len(state.merges),
            changes=len(rows),
            membership_changes=memberships,
            deferred=deferred,
        )

    def _lock_and_load(
        self, conn: Connection[Any], events: list[InEvent], defer: bool
    ) -> tuple[list[InEvent], list[InEvent], BatchState]:
        """Take the identity locks of `events` and lock and load their profiles; return the
        events to apply now, those deferred (`cdp.profiles.contention`), each in batch order,
        and the state. Without `defer`, or for an event deferred `MAX_DEFERRALS` times and the
        events linked to it, every lock is waited for."""
        keys = [[cached_lock_key(i) for i in e.identifiers or ()] for e in events]
        links = Links(keys)
        must = links.linked(
            i for i, e in enumerate(events) if not defer or e.deferrals >= MAX_DEFERRALS
        )
        busy = lock_or_defer(conn, keys, must)
        now, later = links.split(busy)
        waiting = None if not defer else {i for j in must for i in events[j].identifiers or ()}
        state, held = load_state(
            conn, [i for j in now for i in events[j].identifiers or ()], self._pii, waiting
        )
        if held:
            busy |= {cached_lock_key(i) for i in held}
            now, later = links.split(busy)
        deferred = [events[j] for j in later]
        for event in deferred:
            event.deferrals += 1
        return [events[j] for j in now], deferred, state

    def _evaluate_segments(
        self,
        conn: Connection[Any],
        state: BatchState,
        events: list[InEvent],
        owners: list[int],
        final: Callable[[int], int],
        traits_changed: dict[str, set[int]],
    ) -> int:
        """Re-evaluate the segments for the profiles this batch changed, in its transaction,
        each only for the profiles for which something it reads changed (`BatchChanges`)."""
        if self._segments is None or not events:
            return 0
        changed = _batch_changes(state, events, owners, final)
        changed.add_configured(traits_changed)
        return self._segments.after_batch(conn, [*changed.touched, *changed.whole], changed)

    def _computed_traits(
        self,
        conn: Connection[Any],
        state: BatchState,
        events: list[InEvent],
        owners: list[int],
        final: Callable[[int], int],
    ) -> dict[str, set[int]]:
        """Fold the batch into the configured computed traits (`cdp.profiles.computed`)."""
        moves = [
            (m.from_profile, final(m.into_profile))
            for m in state.merges
            if not state.profiles[m.from_profile].is_new
        ]
        return self._computed.after_batch(conn, events, owners, moves)

    def prepare(self, events: list[InEvent]) -> None:
        """Do the part of applying `events` that needs no database: extract their identifiers
        (and compute their advisory-lock keys, which are cached), write their timeline text, and
        find the configured computed traits that may count them (with the definitions the last
        batch read). It reads nothing from Postgres, so the processor runs it in another thread
        while the previous batch is being written. With a sealer, the child process seals the
        timeline texts while this thread extracts the identifiers."""
        sealer = self._sealer
        sent = sealer is not None and sealer.send(events)
        try:
            for event in events:
                for identifier in self._identify(event):
                    cached_lock_key(identifier)
        finally:  # every send is answered, even when this batch fails here
            sealed = sealer.receive(len(events)) if sealer is not None and sent else None
        pii = self._pii
        if sealed is None:
            for event in events:
                event.timeline = _timeline_rest(event, pii)
        else:
            for event, parts in zip(events, sealed, strict=True):
                event.timeline = _timeline_rest(event, pii, parts)
        self._computed.prepare(events)

    def _identify(self, event: InEvent) -> list[Identifier]:
        """The event's match identifiers, extracted (with the plain ones) unless they were."""
        if event.identifiers is None:
            plain = extract_identifiers(event.as_identity_input(), self._rules)
            event.plain_identifiers = plain
            event.identifiers = self._pii.match(plain) if self._pii is not None else plain
        return event.identifiers

    def _fold(
        self, state: BatchState, events: list[InEvent], idents: list[list[Identifier]]
    ) -> tuple[_Timeline, GroupCalls]:
        timeline = _Timeline([])
        groups = GroupCalls()
        rules = self._rules
        for event, ids in zip(events, idents, strict=True):
            profile = state.sole_holder(ids)
            if profile is None:
                resolution = resolve(ids, state, rules)
                profile = state.apply(resolution, event.at, event.message_id)
            state.touch(ids, profile, event.at)
            _fold_event(profile, event)
            rest = (
                event.timeline if event.timeline is not None else _timeline_rest(event, self._pii)
            )
            timeline.rows.append((profile.id, rest))
            if event.type == "group" and event.group_id:
                groups.add(event.group_id, profile.id, event.at, event.traits)
        return timeline, groups


def _batch_changes(
    state: BatchState, events: list[InEvent], owners: list[int], final: Callable[[int], int]
) -> BatchChanges:
    """What the batch folded into `state` changed, per final profile (`BatchChanges`);
    `owners[i]` is the final profile of `events[i]`."""
    changed = BatchChanges()
    for p in state.profiles.values():
        if p.dirty and p.merged_into is None:
            pid = final(p.id)
            changed.touched.add(pid)
            if p.is_new:
                changed.new.add(pid)
            for trait in p.changed_traits:
                changed.traits.setdefault(trait, set()).add(pid)
            if p.consent_decided:
                changed.consent.add(pid)
    for m in state.merges:
        loser = state.profiles[m.from_profile]
        if not loser.is_new:
            changed.whole.update((m.from_profile, final(m.into_profile)))
        elif loser.consent_decided:
            changed.consent.add(final(m.into_profile))
    for event, pid in zip(events, owners, strict=True):
        moved = moved_computed(event.type, event.event, event.properties)
        changed.add_event(pid, event.type, event_name(event), moved)
    return changed


def _fold_event(profile: ProfileState, event: InEvent) -> None:
    incoming = event.incoming_traits()
    if incoming:
        changed = fold_traits(profile.traits, profile.trait_times, incoming, event.at)
        if changed:
            profile.changed_traits |= changed
    if fold_computed(profile.computed, event.fold_input(), event.at):
        profile.consent_decided = True
    profile.dirty = True


def _plain_of(events: list[InEvent]) -> dict[Identifier, Identifier]:
    """Match identifier → plain identifier, for every identifier of `events` (new identifier
    rows get the sealed plain value)."""
    out: dict[Identifier, Identifier] = {}
    update = out.update
    for event in events:
        if event.identifiers is not None and event.plain_identifiers is not None:
            update(zip(event.identifiers, event.plain_identifiers, strict=True))
    return out


def _timeline_rest(
    event: InEvent, pii: PiiWriter | None = None, sealed: Sealed | None = None
) -> str:
    """The event's timeline row as COPY text after the profile id (which is final only once
    the batch's merges are done); its PII values sealed when `pii` encrypts, or as `sealed`
    by the sealing process (None where a text is unchanged)."""
    kind = event.type
    if kind == "track":
        name = event.event
    elif kind in ("page", "screen"):
        name = event.name
    elif kind == "group":
        name = event.group_id
    elif kind == "alias":
        name = pii.seal_text(event.previous_id) if pii is not None else event.previous_id
    else:
        name = None
    traits_payload = kind in TRAIT_PAYLOADS
    if sealed is None and pii is not None and pii.enabled:
        payload, context = pii.seal_timeline(
            kind,
            event.traits_json if traits_payload else event.properties_json,
            event.context_json,
            event.payload(),
            event.context,
        )
    else:
        sealed_payload, sealed_context = sealed or (None, None)
        payload = sealed_payload or event.payload_json()
        context = sealed_context or event.context_json
    return copytext.row(
        (
            event.message_id,
            kind,
            name,
            copytext.timestamp(event.at),
            copytext.timestamp(event.received_at),
            event.source_id,
            payload,
            context,
        )
    )


def _copy_timeline(conn: Connection[Any], timeline: _Timeline, final: Callable[[int], int]) -> None:
    if not timeline.rows:
        return
    data = "".join(f"{final(pid)}\t{rest}\n" for pid, rest in timeline.rows)
    with conn.cursor() as cur, cur.copy(f"COPY events ({TIMELINE_COLUMNS}) FROM STDIN") as copy:
        copy.write(data)


def _first_of_each(events: list[InEvent], unseen: set[str]) -> list[InEvent]:
    """The first event of every message id in `unseen`, in batch order."""
    out = []
    remaining = set(unseen)
    for event in events:
        if event.message_id in remaining:
            remaining.discard(event.message_id)
            out.append(event)
    return out
