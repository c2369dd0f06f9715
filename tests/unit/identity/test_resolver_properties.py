"""Invariants of resolution over random event sequences, applied to an in-memory graph."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from cdp.identity import Identifier, IdentityRules, Resolution, resolve
from tests.unit.identity.memory_graph import MemoryGraph


def _maybe(id_type: str, pool: int) -> st.SearchStrategy[list[Identifier]]:
    one = st.integers(0, pool - 1).map(lambda n: [Identifier(id_type, f"{id_type[0]}{n}")])
    return st.one_of(st.just([]), one)


#: One event's identifiers over small pools, so events keep colliding: at most one user_id,
#: email, phone and device id, and up to two anonymous ids (an alias carries its previous id).
events = st.tuples(
    _maybe("user_id", 4),
    _maybe("email", 4),
    _maybe("phone", 3),
    _maybe("anonymous_id", 6),
    _maybe("anonymous_id", 6),
    _maybe("device_id", 3),
).map(lambda parts: [i for part in parts for i in part])

#: Tight limits so that the guards and the restore pass are exercised; user_id stays at 1.
rules_strategy = st.one_of(
    st.just(IdentityRules()),
    st.builds(
        lambda email, anon, device, total, merges: IdentityRules(
            limits={"email": email, "anonymous_id": anon, "device_id": device},
            max_identifiers_per_profile=total,
            max_merges_per_profile=merges,
        ),
        st.integers(1, 2),
        st.integers(1, 3),
        st.integers(1, 2),
        st.integers(1, 6),
        st.integers(0, 3),
    ),
)


def check_resolution(event: list[Identifier], resolution: Resolution, graph: MemoryGraph) -> None:
    """What a resolution promises about itself, before it is applied."""
    assert set(resolution.attach) | set(resolution.dropped) <= set(event)
    assert not set(resolution.attach) & set(resolution.dropped)
    assert all(graph.profile_of(i) is None for i in resolution.attach)
    assert resolution.profile_id not in resolution.merged
    assert list(resolution.merged) == sorted(set(resolution.merged))
    assert len(resolution.reasons) == len(resolution.dropped) + (1 if resolution.merged else 0)
    if event:
        assert len(resolution.dropped) < len(set(event)), "a consistent graph never drops them all"
    if resolution.profile_id is None:
        assert not resolution.merged
    else:
        survivor_age = graph.created_order(resolution.profile_id)
        assert all(survivor_age < graph.created_order(p) for p in resolution.merged)


def check_graph(graph: MemoryGraph, rules: IdentityRules, attached: set[Identifier]) -> None:
    """What must hold of the whole graph after every event."""
    for profile_id, held in graph.held.items():
        counts = Counter(i.type for i in held)
        assert all(count <= rules.limit(t) for t, count in counts.items()), (profile_id, held)
        assert counts["user_id"] <= 1
        assert len(held) <= rules.max_identifiers_per_profile
        assert graph.merge_count(profile_id) <= rules.max_merges_per_profile
        assert all(graph.owner[i] == profile_id for i in held)
    assert sum(len(held) for held in graph.held.values()) == len(graph.owner)
    assert attached <= set(graph.owner), "an attached identifier was lost"


@settings(max_examples=200, deadline=None)
@given(rules_strategy, st.lists(events, max_size=30))
def test_invariants_hold_after_every_event(
    rules: IdentityRules, sequence: list[list[Identifier]]
) -> None:
    graph = MemoryGraph()
    attached: set[Identifier] = set()
    for event in sequence:
        resolution = resolve(event, graph, rules)
        check_resolution(event, resolution, graph)
        if not event:
            assert resolution == Resolution(profile_id=None)
            continue
        profile_id = graph.apply(resolution)
        attached |= set(resolution.attach)
        check_graph(graph, rules, attached)
        for identifier in event:
            # every identifier of the event is now on the event's profile, unless dropped
            assert (graph.owner.get(identifier) == profile_id) != (identifier in resolution.dropped)
        for identifier in resolution.dropped:
            if identifier not in graph.owner:
                # a brand-new identifier is only refused when the profile is full for it
                held = graph.held[profile_id]
                full = sum(1 for i in held if i.type == identifier.type) >= rules.limit(
                    identifier.type
                )
                assert full or len(held) >= rules.max_identifiers_per_profile


@settings(max_examples=200, deadline=None)
@given(rules_strategy, st.lists(events, min_size=1, max_size=15), st.randoms())
def test_resolution_ignores_the_order_of_the_events_identifiers(
    rules: IdentityRules, sequence: list[list[Identifier]], rnd: object
) -> None:
    graph = MemoryGraph()
    for event in sequence:
        shuffled = list(event)
        rnd.shuffle(shuffled)  # type: ignore[attr-defined]
        resolution = resolve(event, graph, rules)
        assert resolve(shuffled, graph, rules) == resolution
        if event:
            graph.apply(resolution)


@settings(max_examples=200, deadline=None)
@given(st.lists(events, max_size=30))
def test_an_event_repeated_right_away_changes_nothing(sequence: list[list[Identifier]]) -> None:
    graph = MemoryGraph()
    rules = IdentityRules()
    for event in sequence:
        if not event:
            continue
        profile_id = graph.apply(resolve(event, graph, rules))
        again = resolve(event, graph, rules)
        assert again.profile_id == profile_id
        assert (again.attach, again.merged) == ((), ())
