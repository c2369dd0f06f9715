"""Which events of a batch are deferred when another transaction holds some of their locks."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cdp.profiles.contention import Links, held_back


def test_nothing_busy_applies_everything_in_order() -> None:
    assert Links([[1], [2, 3], []]).split(set()) == ([0, 1, 2], [])


def test_an_event_with_a_busy_key_is_deferred_with_the_events_linked_to_it() -> None:
    # 0 and 2 share key 1; 2 and 3 share key 4 (so 3 is linked to 0 through 2); 1 stands alone.
    links = Links([[1], [2], [1, 4], [4, 5], []])
    assert links.split({5}) == ([1, 4], [0, 2, 3])
    assert links.split({2}) == ([0, 2, 3, 4], [1])


def test_an_event_without_keys_is_never_deferred() -> None:
    links = Links([[], [7], []])
    assert links.split({7}) == ([0, 2], [1])


def test_a_busy_key_of_no_event_defers_nothing() -> None:
    assert Links([[1], [2]]).split({99}) == ([0, 1], [])


def test_linked_gives_the_whole_group_of_each_index() -> None:
    links = Links([[1], [2], [1, 4], [4], [], [3]])
    assert links.linked([3]) == {0, 2, 3}
    assert links.linked([4]) == {4}
    assert links.linked([]) == set()
    assert links.linked([1, 5]) == {1, 5}


@given(
    st.lists(st.lists(st.integers(0, 12), max_size=3), max_size=25),
    st.sets(st.integers(0, 12), max_size=4),
)
def test_split_matches_a_plain_closure(keys: list[list[int]], busy: set[int]) -> None:
    """Against the definition: grow the deferred set from the events holding a busy key by
    any event sharing a key with a deferred one, until nothing changes."""
    deferred = {i for i, ks in enumerate(keys) if busy & set(ks)}
    grown = True
    while grown:
        reached = {k for i in deferred for k in keys[i]}
        more = {i for i, ks in enumerate(keys) if reached & set(ks)} - deferred
        deferred |= more
        grown = bool(more)
    now, later = Links(keys).split(busy)
    assert later == sorted(deferred)
    assert now == [i for i in range(len(keys)) if i not in deferred]


def test_held_back_stores_the_first_deferred_offset_of_each_partition() -> None:
    next_offsets = {0: 100, 1: 50, 2: 7}
    assert held_back(next_offsets, [(0, 42), (0, 40), (1, 49)]) == {0: 40, 1: 49, 2: 7}
    assert held_back(next_offsets, []) == next_offsets
