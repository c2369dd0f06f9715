"""The resolver's shortcut (at most one matched profile, nothing to drop) decides exactly as the
full algorithm does, on graphs built under one set of rules and resolved under another."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cdp.identity import Identifier, IdentityRules, resolve
from cdp.identity.extract import sort_key
from cdp.identity.resolver import _decide, _whole
from tests.unit.identity.memory_graph import MemoryGraph, ids
from tests.unit.identity.test_resolver_properties import events, rules_strategy


def _full(event: list[Identifier], graph: MemoryGraph, rules: IdentityRules) -> object:
    original = sorted(set(event), key=sort_key(rules))
    if not original:
        return resolve(event, graph, rules)
    return _decide(original, {i: graph.profile_of(i) for i in original}, graph, rules)


@settings(max_examples=400, deadline=None)
@given(
    build=rules_strategy,
    judge=rules_strategy,
    history=st.lists(events, max_size=25),
    probes=st.lists(events, min_size=1, max_size=5),
)
def test_the_shortcut_matches_the_full_algorithm(
    build: IdentityRules,
    judge: IdentityRules,
    history: list[list[Identifier]],
    probes: list[list[Identifier]],
) -> None:
    graph = MemoryGraph()
    for event in history:
        graph.apply(resolve(event, graph, build))
    for event in probes:
        assert resolve(event, graph, judge) == _full(event, graph, judge)
        assert resolve(list(reversed(event)), graph, judge) == _full(event, graph, judge)


def _owners(graph: MemoryGraph, event: list[Identifier]) -> dict[Identifier, int | None]:
    return {i: graph.profile_of(i) for i in event}


def test_the_shortcut_takes_a_known_visitor() -> None:
    graph = MemoryGraph()
    profile = graph.add("user_id:u", "anonymous_id:a")
    event = ids("user_id:u", "anonymous_id:a", "anonymous_id:b")
    whole = _whole(event, _owners(graph, event), {profile}, graph, IdentityRules())
    assert whole is not None
    assert whole.profile_id == profile
    assert whole.attach == (Identifier("anonymous_id", "b"),)


def test_the_shortcut_leaves_a_limit_to_the_full_algorithm() -> None:
    graph = MemoryGraph()
    profile = graph.add("user_id:u", "anonymous_id:a")
    event = ids("user_id:v", "anonymous_id:a")
    assert _whole(event, _owners(graph, event), {profile}, graph, IdentityRules()) is None
    resolution = resolve(event, graph, IdentityRules())
    assert resolution.dropped == (Identifier("anonymous_id", "a"),)


def test_the_shortcut_respects_a_profile_already_over_a_lowered_limit() -> None:
    graph = MemoryGraph()
    profile = graph.add("email:a@x.io", "email:b@x.io", "anonymous_id:a")
    rules = IdentityRules(limits={"email": 1})
    same = ids("email:a@x.io", "anonymous_id:a")
    assert _whole(same, _owners(graph, same), {profile}, graph, rules) is not None
    more = ids("email:c@x.io", "anonymous_id:a")
    assert _whole(more, _owners(graph, more), {profile}, graph, rules) is None
