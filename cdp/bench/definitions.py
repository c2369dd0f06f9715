"""Synthetic segments and computed traits over the synthetic workload, for `cdp bench pipeline
--segments N --computed-traits M`: what the processor must maintain while it folds."""

from __future__ import annotations

from typing import Any

from cdp.activation.catalog import apply_segments
from cdp.activation.segments import SegmentDefinition, parse_segment
from cdp.db import create_engine
from cdp.profiles.computed import TraitDefinition, apply_traits, parse_trait
from cdp.settings import Settings

__all__ = ["apply_synthetic", "synthetic_segments", "synthetic_traits"]

#: Long enough to count every synthetic event (they start 2024-05-01), so each windowed trait
#: recomputes the touched profiles' whole history: its most expensive case.
WINDOW_DAYS = 2000
#: One trait per kind and property the workload has; `synthetic_traits` cycles through them.
TRAIT_SHAPES: tuple[dict[str, Any], ...] = (
    {"kind": "counter", "event": {"name": "Order Completed"}},
    {"kind": "sum", "property": "revenue", "event": {"name": "Order Completed"}},
    {"kind": "avg", "property": "price", "event": {"name": "Product Viewed"}},
    {"kind": "min", "property": "price"},
    {"kind": "max", "property": "revenue"},
    {"kind": "first", "property": "product_id"},
    {"kind": "last", "property": "product_id", "event": {"name": "Product Added"}},
    {"kind": "most_frequent", "property": "category"},
    {"kind": "unique_list", "property": "query", "event": {"name": "Products Searched"}},
    {"kind": "unique_count", "property": "product_id"},
    {"kind": "counter", "event": {"type": "page"}, "window": {"days": WINDOW_DAYS}},
    {
        "kind": "sum",
        "property": "price",
        "event": {
            "name": "Product Viewed",
            "where": [{"property": "price", "op": "gt", "value": 100}],
        },
        "window": {"days": WINDOW_DAYS},
    },
)


def synthetic_traits(count: int) -> list[TraitDefinition]:
    """`count` computed traits `trait_<i>` over the workload's events, cycling `TRAIT_SHAPES`."""
    return [
        parse_trait({"name": f"trait_{i}", **TRAIT_SHAPES[i % len(TRAIT_SHAPES)]})
        for i in range(count)
    ]


def _condition(i: int, traits: int) -> dict[str, Any]:
    """A mix of leaves: traits, built-in counters, event windows, configured traits."""
    shape = i % 5
    if shape == 0:
        return {
            "trait": {"name": "plan", "op": "eq", "value": ("free", "basic", "pro", "team")[i % 4]}
        }
    if shape == 1:
        return {"computed": {"name": "events.Order Completed", "op": "gte", "value": 1 + i % 3}}
    if shape == 2:
        return {
            "event": {
                "name": "Product Viewed",
                "within": {"days": WINDOW_DAYS},
                "at_least": 1 + i % 4,
            }
        }
    if shape == 3 and traits:
        return {"computed": {"name": f"trait_{i % traits}", "op": "exists"}}
    return {
        "all": [
            {"trait": {"name": "plan", "op": "in", "value": ["pro", "team"]}},
            {"computed": {"name": "total_revenue", "op": "gt", "value": 10 * i}},
        ]
    }


def synthetic_segments(count: int, traits: int) -> list[SegmentDefinition]:
    """`count` segments `bench-<i>`; those reading configured traits read `trait_<j>`, j < `traits`."""
    return [
        parse_segment(
            {"slug": f"bench-{i}", "name": f"Bench {i}", "condition": _condition(i, traits)}
        )
        for i in range(count)
    ]


def apply_synthetic(settings: Settings, segments: int, traits: int) -> None:
    """Store the synthetic definitions in the run's database before the processor starts."""
    engine = create_engine(settings, pool_size=1)
    try:
        with engine.begin() as conn:
            apply_traits(conn, synthetic_traits(traits))
            apply_segments(conn, synthetic_segments(segments, traits))
    finally:
        engine.dispose()
