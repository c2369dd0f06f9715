from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from cdp.profiles.fold import combine_computed, combine_traits, fold_computed, fold_traits

NAMES = st.sampled_from(["plan", "city", "age", "email"])
VALUES = st.one_of(st.none(), st.integers(0, 3), st.sampled_from(["a", "b", "c"]))
UPDATES = st.lists(
    st.tuples(st.integers(0, 5), st.dictionaries(NAMES, VALUES, max_size=3)), max_size=8
)


def fold_all(updates: list[tuple[int, dict[str, Any]]]) -> tuple[dict[str, Any], dict[str, int]]:
    traits: dict[str, Any] = {}
    times: dict[str, int] = {}
    for at, incoming in updates:
        fold_traits(traits, times, incoming, at)
    return traits, times


@given(UPDATES.flatmap(lambda u: st.tuples(st.just(u), st.permutations(u))))
def test_traits_do_not_depend_on_arrival_order(case: tuple[list[Any], list[Any]]) -> None:
    original, shuffled = case
    assert fold_all(original) == fold_all(shuffled)


@given(UPDATES, st.integers(0, 8))
def test_merging_two_profiles_equals_folding_all_their_events_into_one(
    updates: list[Any], split: int
) -> None:
    left, right = updates[:split], updates[split:]
    merged_traits, merged_times = fold_all(left)
    other_traits, other_times = fold_all(right)
    combine_traits(merged_traits, merged_times, other_traits, other_times)
    assert (merged_traits, merged_times) == fold_all(updates)


def test_a_late_event_does_not_overwrite_and_null_unsets() -> None:
    traits, times = fold_all(
        [(10, {"plan": "pro"}), (5, {"plan": "free", "city": "Oslo"}), (12, {"city": None})]
    )
    assert traits == {"plan": "pro"}
    assert times == {"plan": 10, "city": 12}


def test_set_once_and_unset() -> None:
    traits, _ = fold_all(
        [
            (1, {"$set_once": {"signup": "jan"}}),
            (2, {"$set_once": {"signup": "feb"}, "x": 1}),
            (3, {"$unset": ["x"]}),
        ]
    )
    assert traits == {"signup": "jan"}


EVENTS = st.lists(
    st.tuples(
        st.integers(0, 100),
        st.fixed_dictionaries(
            {
                "type": st.sampled_from(["track", "page", "screen", "identify"]),
                "event": st.sampled_from(["Order Completed", "Viewed"]),
                "properties": st.fixed_dictionaries({"revenue": st.integers(0, 50)}),
                "context": st.fixed_dictionaries({"locale": st.sampled_from(["en", "de"])}),
            }
        ),
    ),
    max_size=10,
)


def computed_of(events: list[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
    computed: dict[str, Any] = {}
    for at, event in events:
        fold_computed(computed, event, at)
    return computed


@given(EVENTS, st.integers(0, 10))
def test_computed_traits_combine_like_one_profile(events: list[Any], split: int) -> None:
    left = computed_of(events[:split])
    combine_computed(left, computed_of(events[split:]))
    assert left == computed_of(events)


def consent_event(**preferences: bool) -> dict[str, Any]:
    return {
        "type": "track",
        "event": "x",
        "context": {"consent": {"categoryPreferences": preferences}},
    }


def test_consent_is_folded_per_purpose_by_event_time() -> None:
    computed = computed_of(
        [(10, consent_event(marketing=True, analytics=True)), (5, consent_event(marketing=False))]
    )
    assert computed["consent"] == {
        "marketing": {"granted": True, "at": 10},
        "analytics": {"granted": True, "at": 10},
    }
    fold_computed(computed, consent_event(marketing=False), 20)
    assert computed["consent"]["marketing"] == {"granted": False, "at": 20}


def test_conflicting_consent_across_a_merge_is_the_most_restrictive() -> None:
    granted = computed_of([(30, consent_event(marketing=True, ads=True))])
    revoked = computed_of([(10, consent_event(marketing=False))])
    combine_computed(granted, revoked)
    assert granted["consent"]["marketing"]["granted"] is False
    assert granted["consent"]["ads"]["granted"] is True


def test_folding_says_whether_the_event_took_a_consent_decision() -> None:
    computed: dict[str, Any] = {}
    assert fold_computed(computed, {"type": "track", "event": "x"}, 10) is False
    assert fold_computed(computed, consent_event(marketing=True), 10) is True
    assert fold_computed(computed, consent_event(marketing=False), 5) is False, "older"
    assert fold_computed(computed, consent_event(marketing=True), 20) is True, "a later decision"
