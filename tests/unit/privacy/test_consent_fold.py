"""Consent decisions fold by time, as event consent does."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from cdp.privacy.consent import fold_decision
from cdp.profiles.fold import fold_computed


def test_a_later_decision_wins_and_an_older_one_is_ignored() -> None:
    computed: dict[str, Any] = {}
    assert fold_decision(computed, "Email", True, 2000)
    assert not fold_decision(computed, "Email", False, 1000)
    assert computed["consent"]["Email"] == {"granted": True, "at": 2000}
    assert fold_decision(computed, "Email", False, 3000)
    assert computed["consent"]["Email"] == {"granted": False, "at": 3000}
    assert fold_decision(computed, "Ads", True, 10)
    assert set(computed["consent"]) == {"Email", "Ads"}


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 50)), min_size=1, max_size=12))
def test_api_decisions_fold_exactly_like_event_consent(decisions: list[tuple[bool, int]]) -> None:
    by_api: dict[str, Any] = {}
    by_events: dict[str, Any] = {}
    for granted, at in decisions:
        fold_decision(by_api, "Email", granted, at)
        fold_computed(
            by_events,
            {"type": "track", "context": {"consent": {"categoryPreferences": {"Email": granted}}}},
            at,
        )
    assert by_api["consent"] == by_events["consent"]
