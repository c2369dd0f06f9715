"""Segment evaluation inside the processor's batch transaction.

Only profiles the batch changed are evaluated, and only against segments that read something the
batch changed (traits, computed traits, event names, groups, consent decisions); merged-away
profiles are evaluated too, so they exit everything they were in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from psycopg import Connection

from cdp.activation.membership import SegmentCache, evaluate_segments
from cdp.activation.segments import reads
from cdp.schemas import Codec

__all__ = ["BatchChanges", "IncrementalSegments"]

#: Every folded event moves these, so a segment reading any of them is evaluated on every batch
#: that touched the profile.
ALWAYS_CHANGED = frozenset(
    {
        "event_count",
        "first_seen",
        "last_seen",
        "page_views",
        "screen_views",
        "total_revenue",
        "order_count",
    }
)


@dataclass
class BatchChanges:
    """What one batch changed, to choose the segments worth evaluating."""

    traits: set[str] = field(default_factory=set)
    events: set[str | None] = field(default_factory=set)
    groups: bool = False
    merged: bool = False
    consent: bool = False
    """Some profile took a consent decision (`context.consent.categoryPreferences`)."""
    configured: set[str] = field(default_factory=set)
    """Configured computed traits (`cdp.profiles.computed`) the batch may have changed."""

    def computed(self) -> frozenset[str]:
        named = {f"events.{name}" for name in self.events if name}
        return ALWAYS_CHANGED | named | self.configured


class IncrementalSegments:
    def __init__(self, codec: Codec, membership_topic: str) -> None:
        self._codec = codec
        self._topic = membership_topic
        self._cache = SegmentCache()

    def after_batch(
        self, conn: Connection[Any], profile_ids: Iterable[int], changes: BatchChanges
    ) -> int:
        """Evaluate and record membership changes; returns how many there were."""
        ids = sorted(set(profile_ids))
        if not ids:
            return 0
        computed = changes.computed()
        segments = [
            s
            for s in self._cache.current(conn)
            if changes.merged
            or reads(s.definition).touched_by(
                traits=changes.traits,
                computed=computed,
                events=changes.events,
                groups=changes.groups,
                consent=changes.consent,
            )
        ]
        return len(evaluate_segments(conn, segments, ids, self._codec, self._topic, "evaluation"))
