"""Advisory-lock keys: stable per identifier, and the same whether remembered or computed."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cdp.identity import Identifier
from cdp.profiles import store
from cdp.profiles.store import cached_lock_key, lock_key

identifiers = st.builds(
    Identifier, st.sampled_from(["user_id", "email", "anonymous_id"]), st.text(max_size=20)
)


@given(st.lists(identifiers, max_size=50))
def test_a_remembered_key_is_the_computed_key(ids: list[Identifier]) -> None:
    for identifier in ids + ids:
        assert cached_lock_key(identifier) == lock_key(identifier)


def test_keys_stay_right_past_a_generation_and_recent_ones_are_kept() -> None:
    generation = store.LOCK_KEY_GENERATION
    ids = [Identifier("anonymous_id", f"a-{n}") for n in range(generation + generation // 2)]
    for identifier in ids:
        cached_lock_key(identifier)
    recent = ids[-generation // 2 :]
    assert all(identifier in store._lock_keys.current for identifier in recent)
    assert [cached_lock_key(i) for i in ids[:100]] == [lock_key(i) for i in ids[:100]]


def test_a_key_is_a_signed_64_bit_integer_that_depends_on_type_and_value() -> None:
    a = lock_key(Identifier("email", "x"))
    assert -(2**63) <= a < 2**63
    assert a == lock_key(Identifier("email", "x"))
    assert a != lock_key(Identifier("user_id", "x"))
