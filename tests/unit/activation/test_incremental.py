"""Choosing per segment the profiles of a batch worth evaluating (`BatchChanges.profiles_for`)."""

from __future__ import annotations

from typing import Any

from cdp.activation.incremental import BatchChanges
from cdp.activation.segments import parse_segment, reads
from cdp.activation.segments.model import Reads
from cdp.profiles.fold import moved_computed


def read(condition: dict[str, Any]) -> Reads:
    return reads(parse_segment({"slug": "s", "name": "S", "condition": condition}))


def batch() -> BatchChanges:
    """Profile 1 changed trait `plan`, 2 trait `color`; 3 ordered, 4 viewed a page; 5 is new;
    6 decided consent; 7 and 8 are a merge survivor and the profile it absorbed."""
    changes = BatchChanges(whole={7, 8}, new={5}, consent={6})
    changes.traits = {"plan": {1}, "color": {2}}
    for pid, kind, name, props in [
        (1, "identify", None, {}),
        (2, "identify", None, {}),
        (3, "track", "Order Completed", {"revenue": 5}),
        (4, "page", "Home", {}),
        (5, "track", "Viewed", {}),
        (6, "track", "Viewed", {}),
    ]:
        changes.add_event(pid, kind, name, moved_computed(kind, name, props))
    return changes


def test_a_trait_segment_gets_the_profiles_whose_trait_changed() -> None:
    plan = read({"trait": {"name": "plan", "op": "eq", "value": "gold"}})
    color = read({"trait": {"name": "color", "op": "exists"}})
    assert batch().profiles_for(plan, empty_member=False) == {1, 7, 8}
    assert batch().profiles_for(color, empty_member=False) == {2, 7, 8}


def test_new_profiles_only_for_segments_an_empty_profile_is_in() -> None:
    planless = read({"not": {"trait": {"name": "plan", "op": "exists"}}})
    assert batch().profiles_for(planless, empty_member=True) == {1, 5, 7, 8}


def test_event_counters_and_revenue_follow_the_events_that_move_them() -> None:
    orders = read({"computed": {"name": "events.Order Completed", "op": "gte", "value": 1}})
    revenue = read({"computed": {"name": "total_revenue", "op": "gt", "value": 1}})
    pages = read({"computed": {"name": "page_views", "op": "gt", "value": 1}})
    everyone = read({"computed": {"name": "event_count", "op": "gt", "value": 1}})
    assert batch().profiles_for(orders, empty_member=False) == {3, 7, 8}
    assert batch().profiles_for(revenue, empty_member=False) == {3, 7, 8}
    assert batch().profiles_for(pages, empty_member=False) == {4, 7, 8}
    assert batch().profiles_for(everyone, empty_member=False) == {1, 2, 3, 4, 5, 6, 7, 8}


def test_event_leaves_by_name_and_any_name() -> None:
    viewed = read({"event": {"name": "Viewed", "at_least": 1}})
    any_page = read({"event": {"type": "page", "at_least": 1}})
    assert batch().profiles_for(viewed, empty_member=False) == {5, 6, 7, 8}
    assert batch().profiles_for(any_page, empty_member=False) == {1, 2, 3, 4, 5, 6, 7, 8}


def test_consent_and_configured_traits() -> None:
    consent = read({"consent": {"purpose": "marketing"}})
    configured = read({"computed": {"name": "ltv", "op": "exists"}})
    changes = batch()
    changes.add_configured({"ltv": {4}})
    assert changes.profiles_for(consent, empty_member=False) == {6, 7, 8}
    assert changes.profiles_for(configured, empty_member=False) == {4, 7, 8}
