"""The processor times every batch step by step (`cdp_processor_step_seconds`)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from prometheus_client import REGISTRY

from cdp.settings import Settings
from tests.conftest import wait_for
from tests.integration.profiles.conftest import EventSender, RunningProcessor
from tests.integration.profiles.test_identity_scenarios import at

pytestmark = pytest.mark.integration

STEPS = ("prepare", "load", "fold", "write", "computed_traits", "segments", "commit")


def _counts() -> dict[str, float]:
    return {
        step: REGISTRY.get_sample_value("cdp_processor_step_seconds_count", {"step": step}) or 0.0
        for step in STEPS
    }


def test_an_applied_batch_is_timed_in_every_step(
    pipeline_settings: Settings,
    sender: EventSender,
    processor: RunningProcessor,
    processed: Callable[[], None],
) -> None:
    before = _counts()
    sender.send(
        {
            "type": "identify",
            "userId": "steps-1",
            "traits": {"plan": "pro"},
            "messageId": "steps-m1",
            "timestamp": at(1),
        }
    )
    processed()

    def every_step_counted() -> bool:
        after = _counts()
        return all(after[step] > before[step] for step in STEPS)

    wait_for(every_step_counted, timeout=10, what="a batch timed in every step")
