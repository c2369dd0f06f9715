"""The reference evaluator: a segment condition applied to one profile's facts in plain Python.

It defines what every operator means, for previews and as the oracle the SQL compiler is tested
against (`cdp.activation.segments.sql` must give the same answers for the same data):

- A missing trait or property, and a JSON null, do not exist; `eq`, `in`, `contains`,
  `starts_with` and the orderings are then false, `neq` true (`neq` is exactly `not eq`).
- `eq` / `in` compare with jsonb equality: same JSON type, numbers as exact decimals.
- `contains`: a substring of a string, or an element (by `eq`) of an array.
- Orderings and `between` (inclusive) compare numbers with JSON numbers, and ISO-8601 times or
  `{days_ago: N}` (now minus N times 24 hours) with values that are ISO-8601 times (see `values`).
- Computed counters read 0 when never counted; `first_seen` / `last_seen` are epoch milliseconds.
- A configured computed trait is compared like a trait; without a value it does not exist.
- `group` is true when at least one of the profile's groups satisfies the comparison.
- `consent` is true when `computed.consent.<purpose>.granted` is true (or the string "true").
- `event` counts the events of that type and name whose properties satisfy every `where`, and
  whose time is inside the window: `within` keeps times after `now - window` (times in the future
  included), `between` keeps `from <= time < to`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from cdp.activation.segments.model import (
    EVENTS_PREFIX,
    All,
    AnyOf,
    ComputedCondition,
    ComputedLeaf,
    Condition,
    ConsentLeaf,
    DaysAgo,
    EventLeaf,
    EventSpec,
    GroupCondition,
    GroupLeaf,
    Not,
    PropertyCondition,
    SegmentDefinition,
    TraitCondition,
    TraitLeaf,
    Window,
)
from cdp.activation.segments.values import (
    BOUNDARY_LIMIT,
    as_datetime,
    epoch_us,
    iso_us,
    iso_us_valid,
    json_equal,
    ms_us,
    number,
)

__all__ = ["EventFact", "ProfileFacts", "matches", "next_change"]

Comparison = TraitCondition | GroupCondition | PropertyCondition | ComputedCondition
_MISSING: Any = object()
_LIMIT_US = epoch_us(BOUNDARY_LIMIT)


class EventFact(NamedTuple):
    """One event of the profile's timeline, as stored in `events`."""

    type: str
    name: str | None
    time: datetime
    properties: Mapping[str, Any]


@dataclass(frozen=True)
class ProfileFacts:
    """What a condition can read about one profile: its traits and computed traits (as stored in
    `profiles`), its events, and the traits of each group it belongs to (`{}` for a group never
    described by a group call)."""

    traits: Mapping[str, Any] = field(default_factory=dict)
    computed: Mapping[str, Any] = field(default_factory=dict)
    events: Sequence[EventFact] = ()
    groups: Sequence[Mapping[str, Any]] = ()
    configured: Mapping[str, Any] = field(default_factory=dict)
    """The values of configured computed traits (`computed_trait_values.value`) by name."""


def matches(defn: SegmentDefinition, facts: ProfileFacts, now: datetime) -> bool:
    """Whether the profile with `facts` is a member of `defn` at `now` (timezone-aware)."""
    return _Evaluator(epoch_us(now)).condition(defn.condition, facts)


def next_change(defn: SegmentDefinition, facts: ProfileFacts, now: datetime) -> datetime | None:
    """The earliest instant after `now` at which time alone changes a leaf of `defn` for these
    facts, or None; the Python counterpart of `sql.next_boundary` (same exactness guarantee)."""
    evaluator = _Evaluator(epoch_us(now))
    found = [
        us
        for us in evaluator.boundaries(defn.condition, facts)
        if evaluator.now_us < us < _LIMIT_US
    ]
    return as_datetime(min(found)) if found else None


class _Evaluator:
    def __init__(self, now_us: int) -> None:
        self.now_us = now_us

    def condition(self, node: Condition, facts: ProfileFacts) -> bool:
        if isinstance(node, All):
            return all(self.condition(c, facts) for c in node.conditions)
        if isinstance(node, AnyOf):
            return any(self.condition(c, facts) for c in node.conditions)
        if isinstance(node, Not):
            return not self.condition(node.condition, facts)
        if isinstance(node, TraitLeaf):
            return self.compare(facts.traits.get(node.trait.name, _MISSING), node.trait)
        if isinstance(node, ComputedLeaf):
            return self.compare(_computed_value(node.computed, facts), node.computed)
        if isinstance(node, GroupLeaf):
            name = node.group.name
            return any(self.compare(g.get(name, _MISSING), node.group) for g in facts.groups)
        if isinstance(node, EventLeaf):
            return self.event(node.event, facts)
        return _granted(node, facts)

    def compare(self, fact: Any, cond: Comparison) -> bool:
        """`cond` applied to a stored JSON value (`_MISSING` when absent)."""
        op, value = cond.op, cond.value
        present = fact is not _MISSING and fact is not None
        if op == "exists":
            return present is bool(value)
        if op == "neq":
            return not (present and json_equal(fact, value))
        if not present:
            return False
        if op == "eq":
            return json_equal(fact, value)
        if op == "in":
            return any(json_equal(fact, v) for v in value)
        if op == "contains":
            if isinstance(fact, str) and isinstance(value, str):
                return value in fact
            return isinstance(fact, list) and any(json_equal(e, value) for e in fact)
        if op == "starts_with":
            return isinstance(fact, str) and fact.startswith(value)
        is_ms = isinstance(cond, ComputedCondition) and cond.is_time
        if op == "between":
            low, high = value
            left = self.ordered_side(fact, low, is_ms)
            return left is not None and (
                self.ordered_value(low) <= left <= self.ordered_value(high)
            )
        left = self.ordered_side(fact, value, is_ms)
        if left is None:
            return False
        right = self.ordered_value(value)
        if op == "gt":
            return bool(left > right)
        if op == "gte":
            return bool(left >= right)
        if op == "lt":
            return bool(left < right)
        return bool(left <= right)

    def ordered_side(self, fact: Any, value: Any, is_ms: bool) -> Any:
        """The stored value as the comparison reads it: a decimal, or epoch microseconds."""
        if is_ms:
            return ms_us(fact)
        if number(value) is not None:
            return number(fact)
        return iso_us(fact)

    def ordered_value(self, value: Any) -> Any:
        decimal = number(value)
        if decimal is not None:
            return decimal
        if isinstance(value, DaysAgo):
            return self.now_us - value.us()
        return iso_us(value)

    def selected(self, spec: EventSpec, facts: ProfileFacts) -> list[int]:
        """The times (epoch µs) of the events `spec` counts, newest first."""
        since = None if spec.within is None else self.now_us - _us(spec.within.delta)
        start = end = None
        if spec.between is not None:
            start, end = iso_us_valid(spec.between.from_), iso_us_valid(spec.between.to)
        times = []
        for event in facts.events:
            at = epoch_us(event.time)
            if spec.type is not None and event.type != spec.type:
                continue
            if spec.name is not None and event.name != spec.name:
                continue
            if since is not None and at <= since:
                continue
            if start is not None and end is not None and not start <= at < end:
                continue
            properties = event.properties
            if all(self.compare(properties.get(w.property, _MISSING), w) for w in spec.where):
                times.append(at)
        return sorted(times, reverse=True)

    def event(self, spec: EventSpec, facts: ProfileFacts) -> bool:
        count = len(self.selected(spec, facts))
        if spec.at_least is not None:
            return count >= spec.at_least
        if spec.at_most is not None:
            return count <= spec.at_most
        return count == spec.exactly

    def boundaries(self, node: Condition, facts: ProfileFacts) -> list[int]:
        if isinstance(node, All | AnyOf):
            return [b for c in node.conditions for b in self.boundaries(c, facts)]
        if isinstance(node, Not):
            return self.boundaries(node.condition, facts)
        if isinstance(node, EventLeaf) and node.event.within is not None:
            return self.event_boundary(node.event, node.event.within, facts)
        if isinstance(node, TraitLeaf):
            at = iso_us(facts.traits.get(node.trait.name))
            return _threshold_boundaries(at, node.trait)
        if isinstance(node, ComputedLeaf) and node.computed.is_time:
            at = ms_us(facts.computed.get(node.computed.name))
            return _threshold_boundaries(at, node.computed)
        return []

    def event_boundary(self, spec: EventSpec, within: Window, facts: ProfileFacts) -> list[int]:
        window = _us(within.delta)
        times = self.selected(spec, facts)

        def newest(n: int) -> int | None:
            return times[n] if n < len(times) else None

        if spec.at_least is not None:
            decisive = newest(spec.at_least - 1)
        elif spec.at_most is not None or not spec.exactly:
            decisive = newest(spec.at_most or 0)
        else:
            over, kth = newest(spec.exactly), newest(spec.exactly - 1)
            if over is not None:
                decisive = over if kth is not None and kth > over else None
            else:
                decisive = kth
        return [] if decisive is None else [decisive + window]


def _us(delta: timedelta) -> int:
    return delta // timedelta(microseconds=1)


def _threshold_boundaries(at: int | None, cond: TraitCondition | ComputedCondition) -> list[int]:
    if at is None:
        return []
    bounds: list[tuple[Any, bool]] = []
    if cond.op == "between":
        bounds = [(cond.value[0], True), (cond.value[1], False)]
    elif cond.op in ("gt", "gte", "lt", "lte"):
        bounds = [(cond.value, cond.op in ("gte", "lt"))]
    return [at + v.us() + int(after) for v, after in bounds if isinstance(v, DaysAgo)]


def _computed_value(cond: ComputedCondition, facts: ProfileFacts) -> Any:
    if cond.is_time:
        return facts.computed.get(cond.name, _MISSING)
    if cond.is_configured:
        return facts.configured.get(cond.name, _MISSING)
    if cond.name.startswith(EVENTS_PREFIX):
        counts = facts.computed.get("events")
        if not isinstance(counts, Mapping):
            return 0
        return counts.get(cond.name[len(EVENTS_PREFIX) :], 0)
    return facts.computed.get(cond.name, 0)


def _granted(leaf: ConsentLeaf, facts: ProfileFacts) -> bool:
    consent = facts.computed.get("consent")
    purpose = consent.get(leaf.consent.purpose) if isinstance(consent, Mapping) else None
    granted = purpose.get("granted") if isinstance(purpose, Mapping) else None
    return granted is True or granted == "true"
