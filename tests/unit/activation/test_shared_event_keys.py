"""Which event leaves may share one read of the timeline (`event_key`), and how deep that read
must go for each (`event_depth`)."""

from __future__ import annotations

from typing import Any

import pytest

from cdp.activation.segments import parse_segment
from cdp.activation.segments.model import EventSpec
from cdp.activation.segments.sql import event_depth, event_key, event_leaves


def spec(**fields: Any) -> EventSpec:
    return EventSpec.model_validate({"name": "Viewed", **fields})


def test_the_count_is_not_part_of_the_key() -> None:
    keys = {event_key(spec(within={"days": 7}, **count)) for count in COUNTS}
    assert len(keys) == 1


@pytest.mark.parametrize(
    "other",
    [
        {"within": {"days": 8}},
        {"within": {"hours": 168}, "name": "Bought"},
        {"within": {"days": 7}, "type": "page"},
        {"within": {"days": 7}, "where": [{"property": "price", "op": "gt", "value": 1}]},
        {"between": {"from": "2026-01-01", "to": "2026-02-01"}},
    ],
)
def test_anything_else_that_selects_events_is(other: dict[str, Any]) -> None:
    assert event_key(spec(within={"days": 7})) != event_key(spec(**other))


COUNTS: list[dict[str, int]] = [
    {"at_least": 1},
    {"at_least": 4},
    {"at_most": 0},
    {"at_most": 3},
    {"exactly": 0},
    {"exactly": 2},
]


@pytest.mark.parametrize(
    ("count", "depth"),
    [
        ({"at_least": 1}, 1),
        ({"at_least": 4}, 4),
        ({"at_most": 0}, 1),
        ({"at_most": 3}, 4),
        ({"exactly": 0}, 1),
        ({"exactly": 2}, 3),
    ],
)
def test_depth_covers_every_offset_the_leaf_reads(count: dict[str, int], depth: int) -> None:
    """at_least k: more than k-1, and the k-th newest; at_most k: more than k, the (k+1)-th;
    exactly k: more than k-1 and more than k, the k-th and (k+1)-th."""
    assert event_depth(spec(**count)) == depth


def test_event_leaves_walks_every_branch() -> None:
    definition = parse_segment(
        {
            "slug": "s",
            "name": "S",
            "condition": {
                "all": [
                    {"event": {"name": "A"}},
                    {
                        "not": {
                            "any": [
                                {"event": {"name": "B"}},
                                {"trait": {"name": "t", "op": "exists"}},
                            ]
                        }
                    },
                ]
            },
        }
    )
    assert [s.name for s in event_leaves(definition.condition)] == ["A", "B"]
