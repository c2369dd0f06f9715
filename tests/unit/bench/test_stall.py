"""Noticing that a benchmark's progress count stopped moving."""

from __future__ import annotations

from cdp.bench.stall import StallWatch


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_stalled_only_when_the_count_has_not_moved_for_longer_than_the_limit() -> None:
    clock = Clock()
    watch = StallWatch(10.0, clock)
    assert not watch.stalled(0)
    clock.t = 10.0
    assert not watch.stalled(0)
    clock.t = 10.5
    assert watch.stalled(0)
    assert not watch.stalled(1)
    clock.t = 20.0
    assert not watch.stalled(1)
    clock.t = 20.6
    assert watch.stalled(1)
