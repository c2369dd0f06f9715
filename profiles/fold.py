"""Folding events into profile state: traits by event time, and the built-in computed traits.

Every rule here is order-independent, so replays, late events and concurrent processors converge
on the same profile: a trait keeps the value of its latest event time (an unset counts as a value),
counters add up, first/last seen are min/max.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

__all__ = [
    "TRAIT_SET_ONCE",
    "TRAIT_UNSET",
    "combine_computed",
    "combine_traits",
    "fold_computed",
    "fold_traits",
]

TRAIT_SET_ONCE = "$set_once"
TRAIT_UNSET = "$unset"
ORDER_COMPLETED = "Order Completed"
#: Parts of `context` a support agent or a segment wants from the latest event.
CONTEXT_KEYS = ("device", "os", "app", "locale", "timezone", "campaign", "ip", "userAgent", "page")


def fold_traits(
    traits: dict[str, Any], times: dict[str, int], incoming: dict[str, Any], at: int
) -> set[str]:
    """Apply `incoming` traits of an event at time `at`; return the names whose value changed.

    A value replaces the current one unless the current one is from a later event (see `_wins`
    for equal times). `None` unsets (and its time is kept, so an older event cannot bring the
    value back). `$unset` lists names to unset; `$set_once` sets names never set or unset.
    """
    changed: set[str] = set()
    for name, value in incoming.items():
        if name == TRAIT_SET_ONCE and isinstance(value, dict):
            for once_name, once_value in value.items():
                if once_name not in times and once_value is not None:
                    _set(traits, times, once_name, once_value, at, changed)
        elif name == TRAIT_UNSET and isinstance(value, list):
            for unset_name in value:
                if isinstance(unset_name, str) and _wins(at, None, times, traits, unset_name):
                    _set(traits, times, unset_name, None, at, changed)
        elif _wins(at, value, times, traits, name):
            _set(traits, times, name, value, at, changed)
    return changed


def _wins(at: int, value: Any, times: dict[str, int], traits: dict[str, Any], name: str) -> bool:
    """Whether `value` at `at` replaces the current `name`: a later time wins; at equal times the
    greater canonical JSON wins, so the result never depends on the order events arrive in."""
    current_at = times.get(name)
    if current_at is None or at > current_at:
        return True
    if at < current_at:
        return False
    return _canonical(value) >= _canonical(traits.get(name))


def _canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _set(
    traits: dict[str, Any], times: dict[str, int], name: str, value: Any, at: int, changed: set[str]
) -> None:
    times[name] = at
    if value is None:
        if traits.pop(name, None) is not None:
            changed.add(name)
    elif traits.get(name) != value or name not in traits:
        traits[name] = value
        changed.add(name)


def combine_traits(
    into: dict[str, Any],
    into_times: dict[str, int],
    other: dict[str, Any],
    other_times: dict[str, int],
) -> None:
    """Merge `other` into `into`: per trait, the later event time wins (ties as in `fold_traits`)."""
    for name, at in other_times.items():
        if _wins(at, other.get(name), into_times, into, name) and (
            at != into_times.get(name) or other.get(name) != into.get(name)
        ):
            into_times[name] = at
            if name in other:
                into[name] = other[name]
            else:
                into.pop(name, None)


def fold_computed(computed: dict[str, Any], event: dict[str, Any], at: int) -> bool:
    """Count one event (its type, name, properties, context) into the computed traits; whether
    it took a consent decision (so segments reading consent must be re-evaluated)."""
    first = computed.get("first_seen")
    if first is None or at < first:
        computed["first_seen"] = at
    last = computed.get("last_seen")
    if last is None or at > last:
        computed["last_seen"] = at
    computed["event_count"] = computed.get("event_count", 0) + 1
    kind = event.get("type")
    if kind == "track" and event.get("event"):
        name = str(event["event"])
        counts = computed.setdefault("events", {})
        counts[name] = counts.get(name, 0) + 1
        _count_revenue(computed, name, event.get("properties") or {})
    elif kind == "page":
        computed["page_views"] = computed.get("page_views", 0) + 1
    elif kind == "screen":
        computed["screen_views"] = computed.get("screen_views", 0) + 1
    context = event.get("context")
    if not context:
        return False
    decided = _fold_consent(computed, context, at) if "consent" in context else False
    if not context.keys().isdisjoint(CONTEXT_KEYS):
        current_at = computed.get("last_context_at")
        if current_at is None or at >= current_at:  # an earlier event's context never wins
            kept = {k: context[k] for k in CONTEXT_KEYS if k in context}
            if _later_context(at, kept, computed):
                computed["last_context"] = kept
                computed["last_context_at"] = at
    return decided


def moved_computed(kind: str, event: str | None, properties: dict[str, Any]) -> list[str]:
    """The built-in computed traits `fold_computed` may change for this event besides
    `first_seen`, `last_seen` and `event_count` (which every event moves): a superset, so that
    segments reading none of them need not be re-evaluated."""
    if kind == "track" and event:
        moved = [f"events.{event}"]
        if event == ORDER_COMPLETED:
            moved += ["order_count", "total_revenue"]
        elif "revenue" in properties:
            moved.append("total_revenue")
        return moved
    if kind == "page":
        return ["page_views"]
    if kind == "screen":
        return ["screen_views"]
    return []


def _fold_consent(computed: dict[str, Any], context: dict[str, Any], at: int) -> bool:
    """Consent per purpose from Segment's `context.consent.categoryPreferences`, by event time;
    whether a decision was taken (as `cdp.privacy.consent.fold_decision` takes one)."""
    consent = context.get("consent")
    preferences = consent.get("categoryPreferences") if isinstance(consent, dict) else None
    if not isinstance(preferences, dict):
        return False
    held = computed.setdefault("consent", {})
    decided = False
    for purpose, granted in preferences.items():
        if isinstance(granted, bool) and at >= held.get(purpose, {}).get("at", at):
            held[purpose] = {"granted": granted, "at": at}
            decided = True
    return decided


def _combine_consent(into: dict[str, Any], other: dict[str, Any]) -> None:
    """On a merge, a purpose both profiles decided is granted only if both granted it (the most
    restrictive state wins); a purpose only one decided keeps that decision."""
    theirs = other.get("consent")
    if not theirs:
        return
    ours = into.setdefault("consent", {})
    for purpose, decision in theirs.items():
        mine = ours.get(purpose)
        if mine is None:
            ours[purpose] = dict(decision)
        else:
            ours[purpose] = {
                "granted": bool(mine["granted"] and decision["granted"]),
                "at": max(mine["at"], decision["at"]),
            }


def _later_context(at: int, context: dict[str, Any], computed: dict[str, Any]) -> bool:
    """Whether `context` seen at `at` is the latest; equal times are decided as traits are."""
    current_at = computed.get("last_context_at")
    if current_at is None or at > current_at:
        return True
    return at == current_at and _canonical(context) > _canonical(computed.get("last_context"))


def _count_revenue(computed: dict[str, Any], name: str, properties: dict[str, Any]) -> None:
    revenue = _number(properties.get("revenue"))
    if revenue is None and name == ORDER_COMPLETED:
        revenue = _number(properties.get("total"))
    if revenue is not None:
        computed["total_revenue"] = round(computed.get("total_revenue", 0.0) + revenue, 6)
    if name == ORDER_COMPLETED:
        computed["order_count"] = computed.get("order_count", 0) + 1


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    if isinstance(value, str):
        try:
            parsed = float(value)
        except ValueError:
            return None
        return parsed if math.isfinite(parsed) else None
    return None


ADDITIVE = ("event_count", "page_views", "screen_views", "order_count")


def combine_computed(into: dict[str, Any], other: dict[str, Any]) -> None:
    """Merge the computed traits of `other` into `into`, as if all their events had been one profile's."""
    if not other:
        return
    for key in ADDITIVE:
        if key in other:
            into[key] = into.get(key, 0) + other[key]
    if "total_revenue" in other:
        into["total_revenue"] = round(into.get("total_revenue", 0.0) + other["total_revenue"], 6)
    if "first_seen" in other:
        into["first_seen"] = min(into.get("first_seen", other["first_seen"]), other["first_seen"])
    if "last_seen" in other:
        into["last_seen"] = max(into.get("last_seen", other["last_seen"]), other["last_seen"])
    _combine_consent(into, other)
    counts = into.setdefault("events", {})
    for name, n in other.get("events", {}).items():
        counts[name] = counts.get(name, 0) + n
    if not counts:
        into.pop("events")
    if "last_context_at" in other and _later_context(
        other["last_context_at"], other.get("last_context", {}), into
    ):
        into["last_context"] = other.get("last_context", {})
        into["last_context_at"] = other["last_context_at"]
