"""Segment evaluation inside the processor's batch transaction.

Each segment is evaluated only for the profiles of the batch for which something it reads
changed (traits, built-in and configured computed traits, events by name, groups, consent
decisions). A pair left out keeps its membership and window check: nothing its condition or
boundary depends on moved. A profile created by the batch holds nothing but what the batch
brought, so if nothing a segment reads changed for it, it reads as an empty profile: it is
evaluated only against segments an empty profile is a member of. A merge that absorbed an
older profile moves everything at once: the survivor and the merged-away profile are evaluated
against every segment (the merged-away one so that it exits everything it was in).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from psycopg import Connection

from cdp.activation.catalog import ActiveSegment
from cdp.activation.membership import SegmentCache, evaluate_segments
from cdp.activation.segments import ProfileFacts, Reads, matches, reads
from cdp.schemas import Codec

__all__ = ["BatchChanges", "IncrementalSegments"]

#: Built-in computed traits every folded event moves (`cdp.profiles.fold.fold_computed`).
EVERY_EVENT = frozenset({"event_count", "first_seen", "last_seen"})


@dataclass
class BatchChanges:
    """What one batch changed, per final profile id, to choose for each segment the profiles
    worth evaluating (see `profiles_for`)."""

    touched: set[int] = field(default_factory=set)
    """Profiles the batch folded events into."""
    whole: set[int] = field(default_factory=set)
    """Profiles evaluated against every segment: survivors and merged-away profiles of merges
    that absorbed a profile older than the batch."""
    new: set[int] = field(default_factory=set)
    """Profiles created by the batch (what they hold came from it: events, traits, groups)."""
    traits: dict[str, set[int]] = field(default_factory=dict)
    """Per trait, the profiles whose value of it changed."""
    computed: dict[str, set[int]] = field(default_factory=dict)
    """Per computed trait (built-in ones beyond `EVERY_EVENT`, `events.<name>` counters and
    configured ones), the profiles whose value of it may have changed."""
    events: dict[str | None, set[int]] = field(default_factory=dict)
    """Per event name as the timeline stores it (None: no name), the profiles that got one."""
    groups: bool = False
    """Some event was a group call (it may change group traits of any member)."""
    consent: set[int] = field(default_factory=set)
    """Profiles that took a consent decision (`context.consent.categoryPreferences`)."""

    def add_event(
        self, profile_id: int, kind: str, name: str | None, computed: Iterable[str]
    ) -> None:
        """One folded event of `profile_id`, with its timeline `name` and the built-in computed
        traits beyond `EVERY_EVENT` it may move (`cdp.profiles.fold.moved_computed`)."""
        self.touched.add(profile_id)
        self.events.setdefault(name, set()).add(profile_id)
        for moved in computed:
            self.computed.setdefault(moved, set()).add(profile_id)
        if kind == "group":
            self.groups = True

    def add_configured(self, changed: Mapping[str, set[int]]) -> None:
        """Configured computed traits that may have changed, per name the profiles."""
        for name, ids in changed.items():
            self.computed.setdefault(name, set()).update(ids)

    def profiles_for(self, read: Reads, empty_member: bool) -> set[int]:
        """The profiles for which something `read` depends on may have changed, for a segment
        whose condition an empty profile does (`empty_member`) or does not satisfy."""
        found = self.whole | self.new if empty_member else set(self.whole)
        for trait in read.traits:
            found |= self.traits.get(trait, set())
        for name in read.computed:
            found |= self.touched if name in EVERY_EVENT else self.computed.get(name, set())
        if None in read.events or (read.groups and self.groups):
            found |= self.touched
        else:
            for event in read.events:
                found |= self.events.get(event, set())
        if read.consent:
            found |= self.consent
        return found


class IncrementalSegments:
    def __init__(self, codec: Codec, membership_topic: str) -> None:
        self._codec = codec
        self._topic = membership_topic
        self._cache = SegmentCache()
        self._reads: tuple[list[ActiveSegment], list[tuple[Reads, bool]]] = ([], [])

    def after_batch(
        self, conn: Connection[Any], profile_ids: Iterable[int], changes: BatchChanges
    ) -> int:
        """Evaluate and record membership changes; returns how many there were."""
        ids = sorted(set(profile_ids))
        if not ids:
            return 0
        segments = self._cache.current(conn)
        subsets = [changes.profiles_for(*read) for read in self._reads_of(segments)]
        if not any(subsets):
            return 0
        return len(
            evaluate_segments(
                conn, segments, ids, self._codec, self._topic, "evaluation", subsets=subsets
            )
        )

    def _reads_of(self, segments: list[ActiveSegment]) -> list[tuple[Reads, bool]]:
        """What each segment reads and whether an empty profile is a member (with no facts no
        leaf depends on the time, so this holds at any time), worked out once per list."""
        if self._reads[0] is not segments:
            now = datetime.now(UTC)
            self._reads = (
                segments,
                [(reads(s.definition), matches(s.definition, EMPTY, now)) for s in segments],
            )
        return self._reads[1]


#: A profile without traits, computed traits, events or groups.
EMPTY = ProfileFacts()
