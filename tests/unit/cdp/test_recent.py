from hypothesis import given
from hypothesis import strategies as st

from cdp.recent import Recent


def test_a_working_set_of_one_generation_keeps_hitting_across_rotations() -> None:
    recent: Recent[int, str] = Recent(4)
    for key in range(4):
        recent.put(key, str(key))
    for _ in range(3):
        for key in range(4):
            assert recent.get(key) == str(key)
    recent.put(99, "99")  # rotates: 0..3 move to the previous generation
    assert all(recent.get(key) == str(key) for key in range(4))


def test_entries_older_than_two_generations_are_forgotten() -> None:
    recent: Recent[int, int] = Recent(2)
    for key in range(6):
        recent.put(key, key)
    assert recent.get(0) is None
    assert recent.get(5) == 5
    assert len(recent) <= 4


@given(st.lists(st.integers(0, 30), max_size=300), st.integers(1, 8))
def test_a_hit_is_the_latest_value_put_and_size_stays_bounded(keys: list[int], size: int) -> None:
    recent: Recent[int, tuple[int, int]] = Recent(size)
    latest: dict[int, tuple[int, int]] = {}
    for n, key in enumerate(keys):
        found = recent.get(key)
        assert found is None or found == latest[key]
        recent.put(key, (key, n))
        latest[key] = (key, n)
        assert len(recent) <= 2 * size


def test_current_holds_what_was_put_since_the_last_rotation() -> None:
    recent: Recent[str, int] = Recent(2)
    recent.put("a", 1)
    recent.put("b", 2)
    recent.put("c", 3)
    assert recent.current == {"c": 3}
    assert recent.get("a") == 1
    assert recent.current == {"c": 3, "a": 1}
