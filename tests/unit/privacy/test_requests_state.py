"""Deletion jobs move pending → running → done | failed, and never back."""

from __future__ import annotations

import itertools

import pytest

from cdp.privacy.errors import InvalidTransition
from cdp.privacy.requests import TRANSITIONS, check_transition

ALLOWED = {
    ("pending", "running"),
    ("pending", "failed"),
    ("running", "done"),
    ("running", "failed"),
}


@pytest.mark.parametrize(
    ("current", "new"), list(itertools.product(["pending", "running", "done", "failed"], repeat=2))
)
def test_every_transition_is_allowed_or_refused(current: str, new: str) -> None:
    if (current, new) in ALLOWED:
        check_transition(current, new)
    else:
        with pytest.raises(InvalidTransition):
            check_transition(current, new)


def test_finished_jobs_are_final_and_unknown_states_go_nowhere() -> None:
    assert TRANSITIONS["done"] == TRANSITIONS["failed"] == frozenset()
    with pytest.raises(InvalidTransition):
        check_transition("lost", "running")
