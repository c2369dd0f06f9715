"""The processor's per-step batch timer."""

from __future__ import annotations

from prometheus_client import REGISTRY

from cdp.profiles.observability import STEP_SECONDS, StepClock


def _observed(step: str) -> tuple[float, float]:
    labels = {"step": step}
    count = REGISTRY.get_sample_value("cdp_processor_step_seconds_count", labels) or 0.0
    total = REGISTRY.get_sample_value("cdp_processor_step_seconds_sum", labels) or 0.0
    return count, total


def test_each_lap_records_the_time_since_the_previous_one() -> None:
    ticks = iter([10.0, 10.25, 11.0])
    before = {step: _observed(step) for step in ("unit-a", "unit-b")}

    clock = StepClock(lambda: next(ticks))
    clock.lap("unit-a")
    clock.lap("unit-b")
    try:
        for step, seconds in (("unit-a", 0.25), ("unit-b", 0.75)):
            count, total = _observed(step)
            assert count == before[step][0] + 1
            assert total == before[step][1] + seconds
    finally:  # the processor's real steps are the only series left
        STEP_SECONDS.remove("unit-a")
        STEP_SECONDS.remove("unit-b")
