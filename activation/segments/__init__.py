"""Segments: the definition language, its validation, SQL compilation and a reference evaluator."""

from cdp.activation.segments.errors import SegmentDefinitionError
from cdp.activation.segments.evaluate import EventFact, ProfileFacts, matches, next_change
from cdp.activation.segments.model import (
    Reads,
    SegmentDefinition,
    load_segments,
    parse_segment,
    parse_segments,
    reads,
)
from cdp.activation.segments.pii import check_pii_conditions
from cdp.activation.segments.sql import live_members_query, membership_condition, next_boundary

__all__ = [
    "EventFact",
    "ProfileFacts",
    "Reads",
    "SegmentDefinition",
    "SegmentDefinitionError",
    "check_pii_conditions",
    "live_members_query",
    "load_segments",
    "matches",
    "membership_condition",
    "next_boundary",
    "next_change",
    "parse_segment",
    "parse_segments",
    "reads",
]
