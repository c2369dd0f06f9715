"""Parsing and validating segment definitions: accepted forms, error paths, fingerprints, reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cdp.activation.segments import (
    SegmentDefinitionError,
    load_segments,
    parse_segment,
    parse_segments,
    reads,
)
from cdp.activation.segments.model import MAX_DEPTH, DaysAgo, EventLeaf, TraitLeaf

EXAMPLE = """
slug: running-shoe-browsers
name: Viewed running shoes in the last 7 days, no order
description: optional text
condition:
  all:
    - event: {name: Product Viewed, type: track, where: [{property: category, op: eq, value: running shoes}], within: {days: 7}, at_least: 1}
    - not: {event: {name: Order Completed, within: {days: 7}}}
    - trait: {name: plan, op: in, value: [gold, platinum]}
    - computed: {name: total_revenue, op: gte, value: 500}
    - group: {name: plan, op: eq, value: enterprise}
    - consent: {purpose: marketing}
emit: {traits: [email, first_name], identifiers: [email, user_id]}
"""


def segment(condition: Any, **extra: Any) -> dict[str, Any]:
    return {"slug": "s", "name": "S", "condition": condition, **extra}


def trait(op: str, value: Any = None, name: str = "t") -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "op": op}
    if value is not None:
        body["value"] = value
    return {"trait": body}


def problem(data: Any) -> str:
    with pytest.raises(SegmentDefinitionError) as caught:
        parse_segment(data)
    return str(caught.value)


def test_the_documented_example_parses(tmp_path: Path) -> None:
    path = tmp_path / "segments.yaml"
    path.write_text(EXAMPLE)
    [defn] = load_segments(path)
    assert defn.slug == "running-shoe-browsers"
    assert defn.topic == "cdp.segment.running-shoe-browsers"
    assert defn.emit.traits == ("email", "first_name")
    first = defn.condition.conditions[0]  # type: ignore[union-attr]
    assert isinstance(first, EventLeaf)
    assert first.event.within is not None
    assert first.event.within.days == 7


def test_event_defaults_type_track_and_at_least_one() -> None:
    defn = parse_segment(segment({"event": {"name": "Signed Up"}}))
    assert isinstance(defn.condition, EventLeaf)
    assert defn.condition.event.type == "track"
    assert defn.condition.event.at_least == 1
    anything = parse_segment(segment({"event": {"within": {"hours": 2}}}))
    assert isinstance(anything.condition, EventLeaf)
    assert anything.condition.event.type is None


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            segment({"all": [trait("eq", 1), trait("greater", 1)]}),
            "condition.all[1].trait.op: 'greater' is not one of eq, neq, in, contains, "
            "starts_with, gt, gte, lt, lte, exists, between",
        ),
        (
            segment({"any": [trait("eq", 1), {"not": {"not": trait("gt", "soon")}}]}),
            "condition.any[1].not.not.trait.value: 'soon' is not an ISO-8601 date or datetime",
        ),
        (segment(trait("in", [])), "condition.trait.value: in takes a non-empty list"),
        (segment(trait("in", "gold")), "condition.trait.value: in takes a non-empty list"),
        (
            segment(trait("in", ["a", ["b"]])),
            "condition.trait.value: item 1: expected a string, number or boolean, got a list",
        ),
        (segment(trait("eq")), "condition.trait.value: eq needs a value"),
        (segment(trait("eq", {"a": 1})), "condition.trait.value: expected a string, number"),
        (segment(trait("exists", 3)), "condition.trait.value: exists takes no value"),
        (segment(trait("starts_with", 3)), "condition.trait.value: starts_with takes a string"),
        (segment(trait("gt", True)), "condition.trait.value: expected a number, an ISO-8601"),
        (segment(trait("gt", float("nan"))), "got a non-finite number"),
        (segment(trait("gte", "2026-02-30")), "'2026-02-30' is not an ISO-8601 date"),
        (segment(trait("gte", "2026-01-01T25:00Z")), "is not an ISO-8601 date"),
        (segment(trait("between", [1])), "condition.trait.value: between takes [low, high]"),
        (segment(trait("between", [5, 1])), "condition.trait.value: low is greater than high"),
        (
            segment(trait("between", [1, "2026-01-01"])),
            "low and high must both be numbers or both be times",
        ),
        (
            segment(trait("between", ["2026-02-01", "2026-01-01"])),
            "condition.trait.value: low is later than high",
        ),
        (
            segment(trait("between", [{"days_ago": 1}, {"days_ago": 5}])),
            "low is later than high",
        ),
        (segment(trait("lt", {"days_ago": -1})), "condition.trait.value: expected {days_ago: N}"),
        (segment(trait("lt", {"days": 1})), "condition.trait.value: expected {days_ago: N}"),
        (
            segment({"group": {"name": "plan", "op": "lt", "value": {"days_ago": 3}}}),
            "condition.group.value: expected a number or an ISO-8601 date or datetime, got a mapping",
        ),
        (
            segment({"computed": {"name": "Visits", "op": "gt", "value": 1}}),
            "condition.computed.name: 'Visits' is not one of event_count",
        ),
        (
            segment({"computed": {"name": "lifetime_value", "op": "gt", "value": {"days": 1}}}),
            "condition.computed.value: expected a number or an ISO-8601 date or datetime, got a mapping",
        ),
        (
            segment({"computed": {"name": "event_count", "op": "exists"}}),
            "condition.computed.op: 'exists' is not one of eq, neq, in, gt, gte, lt, lte, "
            "between for computed 'event_count'",
        ),
        (
            segment({"computed": {"name": "order_count", "op": "eq", "value": "3"}}),
            "condition.computed.value: expected a number, got '3'",
        ),
        (
            segment({"computed": {"name": "first_seen", "op": "eq", "value": 3}}),
            "condition.computed.op: 'eq' is not one of gt, gte, lt, lte, exists, between",
        ),
        (
            segment({"computed": {"name": "last_seen", "op": "gt", "value": 3}}),
            "condition.computed.value: expected an ISO-8601 date or datetime or {days_ago: N}",
        ),
        (
            segment({"event": {"name": "A", "within": {"days": 1, "hours": 2}}}),
            "condition.event.within: give exactly one of days, hours, minutes",
        ),
        (
            segment({"event": {"name": "A", "within": {"days": 0}}}),
            "condition.event.within.days: Input should be greater than or equal to 1",
        ),
        (
            segment({"event": {"name": "A", "at_least": 1, "at_most": 3}}),
            "condition.event: give exactly one of at_least, at_most, exactly",
        ),
        (
            segment({"event": {"name": "A", "at_least": "2"}}),
            "condition.event.at_least: Input should be a valid integer",
        ),
        (
            segment(
                {
                    "event": {
                        "name": "A",
                        "within": {"days": 1},
                        "between": {"from": "2026-01-01", "to": "2026-02-01"},
                    }
                }
            ),
            "condition.event: give at most one of within, between",
        ),
        (
            segment(
                {"event": {"name": "A", "between": {"from": "2026-02-01", "to": "2026-01-01"}}}
            ),
            "condition.event.between: from must be before to",
        ),
        (
            segment({"event": {"name": "A", "type": "click"}}),
            "condition.event.type: 'click' is not one of track, page, screen, identify, group, alias",
        ),
        (
            segment({"event": {"name": "A", "type": "identify"}}),
            "condition.event: identify events have no name",
        ),
        (
            segment(
                {
                    "event": {
                        "name": "A",
                        "where": [{"property": "p", "op": "gt", "value": {"days_ago": 1}}],
                    }
                }
            ),
            "condition.event.where[0].value: expected a number or an ISO-8601",
        ),
        (
            segment({"event": {"name": "A", "color": "red"}}),
            "condition.event.color: unknown key",
        ),
        (segment({"consent": {}}), "condition.consent.purpose: is required"),
        (segment({"consent": {"purpose": ""}}), "condition.consent.purpose: must not be empty"),
        (
            segment({"trait": trait("eq", 1)["trait"], "group": {}}),
            "condition: expected exactly one key of all, any, not, event, trait, computed, group, "
            "consent; got keys trait, group",
        ),
        (segment({"every": []}), "condition: expected exactly one key of all"),
        (segment("plan = gold"), "condition: expected exactly one key of all"),
        (segment({"all": []}), "condition.all: Tuple should have at least 1 item"),
        (segment(trait("eq", "a\x00b")), "condition.trait.value: must not contain NUL"),
        (segment(trait("eq", 1, name="")), "condition.trait.name: must not be empty"),
        (
            {"slug": "Bad Slug", "name": "n", "condition": trait("eq", 1)},
            "slug: 'Bad Slug' must be",
        ),
        ({"slug": "-x", "name": "n", "condition": trait("eq", 1)}, "slug: '-x' must be"),
        ({"slug": "x" * 64, "name": "n", "condition": trait("eq", 1)}, "must be 1-63"),
        ({"name": "n", "condition": trait("eq", 1)}, "slug: is required"),
        (segment(trait("eq", 1), colour="red"), "colour: unknown key"),
        (segment(trait("eq", 1), emit={"traits": ["a", "a"]}), "emit.traits: 'a' is listed twice"),
        (segment(trait("eq", 1), emit={"ids": ["a"]}), "emit.ids: unknown key"),
        ([1, 2], "expected a mapping (a segment definition), got a list"),
    ],
)
def test_each_bad_part_is_named_by_its_path(data: Any, expected: str) -> None:
    assert expected in problem(data)


def test_all_problems_are_reported_together() -> None:
    text = problem({"slug": "-", "name": "", "condition": trait("greater", 1)})
    assert "slug: '-' must be" in text
    assert "name: must not be empty" in text
    assert "condition.trait.op: 'greater' is not one of" in text


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    condition: Any = trait("eq", 1)
    for _ in range(MAX_DEPTH):
        condition = {"not": condition}
    parse_segment(segment(condition))
    text = problem(segment({"all": [condition]}))
    assert f"nest deeper than {MAX_DEPTH} levels" in text
    assert text.startswith("condition.all[0]" + ".not" * (MAX_DEPTH - 1) + ":")


def test_yaml_dates_are_read_as_iso_text(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "slug: s\nname: S\ncondition:\n  all:\n"
        "    - trait: {name: signup, op: between, value: [2026-01-01, 2026-06-01 10:00:00]}\n"
        "    - event: {name: A, between: {from: 2026-01-01, to: 2026-02-01T00:00:00Z}}\n"
    )
    [defn] = load_segments(path)
    data = defn.canonical()["condition"]["all"]
    assert data[0]["trait"]["value"] == ["2026-01-01", "2026-06-01T10:00:00"]
    assert data[1]["event"]["between"] == {"from": "2026-01-01", "to": "2026-02-01T00:00:00+00:00"}


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-01",
        "2026-11-01T10:00",
        "2026-11-01 10:00:59",
        "2026-11-01T10:00:00.5Z",
        "2026-11-01T10:00:00.123456+05:30",
        "2026-11-01T10:00-0800",
        "2024-02-29T00:00+14",
    ],
)
def test_iso_forms_accepted_as_times(value: str) -> None:
    parse_segment(segment(trait("gt", value)))


@pytest.mark.parametrize(
    "value",
    ["2026-11-1", "2025-02-29", "0000-01-01", "2026-11-01T10", "2026-11-01T10:00:60",
     "2026-11-01T10:00+15:00", "2026-11-01Z", "2026-11-01T10:00:00.1234567", "26-11-01"],
)  # fmt: skip
def test_other_strings_are_not_times(value: str) -> None:
    assert "is not an ISO-8601 date" in problem(segment(trait("gt", value)))


def test_a_file_holds_one_definition_a_list_or_segments(tmp_path: Path) -> None:
    one = segment(trait("eq", 1))
    two = {**segment(trait("eq", 2)), "slug": "t"}
    (tmp_path / "a.json").write_text(json.dumps(one))
    (tmp_path / "b.json").write_text(json.dumps([one, two]))
    (tmp_path / "c.yaml").write_text(json.dumps({"segments": [one, two]}))
    (tmp_path / "d.yaml").write_text("")
    assert [d.slug for d in load_segments(tmp_path / "a.json")] == ["s"]
    assert [d.slug for d in load_segments(tmp_path / "b.json")] == ["s", "t"]
    assert [d.slug for d in load_segments(tmp_path / "c.yaml")] == ["s", "t"]
    assert load_segments(tmp_path / "d.yaml") == []


def test_file_errors_name_the_file_and_the_definition(tmp_path: Path) -> None:
    good = segment(trait("eq", 1))
    bad = {**segment({"all": [trait("eq", 1), trait("eq", 1), trait("greater", 1)]}), "slug": "b"}
    path = tmp_path / "segments.json"
    path.write_text(json.dumps({"segments": [good, bad]}))
    with pytest.raises(SegmentDefinitionError) as caught:
        load_segments(path)
    assert str(caught.value).startswith(f"{path}: segments[1].condition.all[2].trait.op: 'greater'")
    assert caught.value.problems[0][0] == "segments[1].condition.all[2].trait.op"


def test_duplicate_slugs_in_one_file_are_an_error() -> None:
    one = segment(trait("eq", 1))
    with pytest.raises(SegmentDefinitionError, match=r"segments\[2\]\.slug: duplicate slug 's'"):
        parse_segments({"segments": [one, {**one, "slug": "t"}, one]})
    with pytest.raises(SegmentDefinitionError, match=r"\[1\]\.slug: duplicate slug"):
        parse_segments([one, one])


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("x.yaml", "slug: [", "not valid YAML"),
        ("x.json", "{", "not valid JSON"),
        ("x.yaml", "just a string", "expected a segment definition, a list of them"),
        ("x.yaml", "segments: {}", "segments: expected a list"),
        ("x.yaml", "segments: []\nextra: 1", "extra: unknown key"),
    ],
)
def test_unreadable_files(tmp_path: Path, name: str, text: str, expected: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(SegmentDefinitionError, match=expected):
        load_segments(path)


def test_a_missing_file_is_a_definition_error(tmp_path: Path) -> None:
    with pytest.raises(SegmentDefinitionError, match="cannot read the file"):
        load_segments(tmp_path / "nope.yaml")


def test_fingerprint_is_stable_across_spellings() -> None:
    written = segment(
        {"all": [{"event": {"name": "A", "within": {"days": 7}}}, trait("exists")]},
        emit={"traits": ["email"]},
    )
    explicit = {
        "emit": {"identifiers": [], "traits": ["email"]},
        "condition": {
            "all": [
                {
                    "event": {
                        "at_least": 1,
                        "within": {"days": 7},
                        "type": "track",
                        "name": "A",
                        "where": [],
                    }
                },
                {"trait": {"value": True, "op": "exists", "name": "t"}},
            ]
        },
        "name": "S",
        "slug": "s",
    }
    a, b = parse_segment(written), parse_segment(explicit)
    assert a == b
    assert a.fingerprint() == b.fingerprint()
    assert len(a.fingerprint()) == 64
    assert parse_segment(a.canonical()) == a
    assert parse_segment(json.loads(json.dumps(a.canonical()))).fingerprint() == a.fingerprint()


@pytest.mark.parametrize(
    "change",
    [
        {"name": "Other"},
        {"description": "text"},
        {"emit": {"traits": ["phone"]}},
        {"condition": {"all": [{"event": {"name": "A", "within": {"days": 8}}}, trait("exists")]}},
        {
            "condition": {
                "all": [{"event": {"name": "A", "within": {"days": 7}}}, trait("exists", False)]
            }
        },
    ],
)
def test_fingerprint_changes_with_the_definition(change: dict[str, Any]) -> None:
    base = segment(
        {"all": [{"event": {"name": "A", "within": {"days": 7}}}, trait("exists")]},
        emit={"traits": ["email"]},
    )
    assert parse_segment(base).fingerprint() != parse_segment({**base, **change}).fingerprint()


def test_exists_without_value_means_exists() -> None:
    defn = parse_segment(segment(trait("exists")))
    assert isinstance(defn.condition, TraitLeaf)
    assert defn.condition.trait.value is True


def test_days_ago_is_parsed_to_a_model() -> None:
    defn = parse_segment(segment(trait("between", [{"days_ago": 30}, {"days_ago": 7}])))
    assert isinstance(defn.condition, TraitLeaf)
    assert defn.condition.trait.value == (DaysAgo(days_ago=30), DaysAgo(days_ago=7))


def test_reads_lists_what_the_condition_depends_on() -> None:
    defn = parse_segment(
        segment(
            {
                "any": [
                    {"event": {"name": "A", "within": {"days": 1}}},
                    {"not": {"event": {"type": "page"}}},
                    trait("eq", 1, name="plan"),
                    {"all": [{"computed": {"name": "events.B", "op": "gt", "value": 2}}]},
                    {"group": {"name": "tier", "op": "exists"}},
                ]
            }
        )
    )
    found = reads(defn)
    assert found.traits == {"plan"}
    assert found.computed == {"events.B"}
    assert found.events == {"A", None}
    assert found.groups
    assert not found.consent
    assert found.windows


def test_reads_windows_only_for_time_dependent_leaves() -> None:
    fixed = parse_segment(
        segment(
            {
                "all": [
                    {"event": {"name": "A", "between": {"from": "2026-01-01", "to": "2026-02-01"}}},
                    trait("gt", "2026-01-01", name="signup"),
                    {"consent": {"purpose": "ads"}},
                ]
            }
        )
    )
    assert not reads(fixed).windows
    assert reads(fixed).consent
    assert reads(fixed).events == {"A"}
    moving = parse_segment(
        segment({"computed": {"name": "last_seen", "op": "gte", "value": {"days_ago": 3}}})
    )
    assert reads(moving).windows
    assert reads(moving).computed == {"last_seen"}


def test_reads_touched_by() -> None:
    defn = parse_segment(segment({"all": [trait("eq", 1, name="plan"), {"event": {"name": "A"}}]}))
    found = reads(defn)
    assert found.touched_by(traits={"plan"})
    assert not found.touched_by(traits={"email"})
    assert found.touched_by(events={"A"})
    assert not found.touched_by(events={"B"}, groups=True, consent=True)
    anything = reads(parse_segment(segment({"event": {"type": "page"}})))
    assert anything.touched_by(events={"B"})
    assert not anything.touched_by(traits={"plan"})
