"""Two processors in one consumer group end in the same state as one processor alone."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from cdp.settings import Settings
from tests.conftest import wait_for
from tests.integration.profiles.conftest import EventSender, RunningProcessor, consumed_up_to
from tests.integration.profiles.snapshot import differences, snapshot

pytestmark = pytest.mark.integration


def merge_heavy_workload(seed: int, people: int = 60) -> Iterator[dict[str, Any]]:
    """Each person browses anonymously on two devices, then logs in on both, with shared emails
    spread across partitions, so merges race between partitions."""
    rng = random.Random(seed)
    for n in range(people):
        user, email = f"user-{n}", f"person{n}@example.com"
        devices = [f"dev-{n}-a", f"dev-{n}-b"]
        for i, device in enumerate(devices):
            for k in range(3):
                yield {
                    "type": "track",
                    "anonymousId": device,
                    "event": rng.choice(["Viewed", "Clicked"]),
                    "messageId": f"{device}-{k}",
                }
            yield {
                "type": "identify",
                "anonymousId": device,
                "traits": {"email": email.upper() if i else email},
                "messageId": f"{device}-mail",
            }
        yield {
            "type": "identify",
            "userId": user,
            "anonymousId": devices[1],
            "traits": {"name": f"P{n}"},
            "messageId": f"{user}-login",
        }


def run_with(
    settings: Settings, sender: EventSender, processors: int, events: list[dict[str, Any]]
) -> dict[Any, Any]:
    running = [RunningProcessor(settings) for _ in range(processors)]
    for p in running:
        p.__enter__()
    try:
        for start in range(0, len(events), 50):
            sender.send(*events[start : start + 50])
        wait_for(
            lambda: consumed_up_to(settings) >= sender.sent, timeout=120, what="all events applied"
        )
    finally:
        for p in running:
            p.__exit__(None, None, None)
    return snapshot(settings)


def test_two_concurrent_processors_match_one(
    pipeline_settings: Settings, sender: EventSender, template_database: str
) -> None:
    from tests.integration.profiles.conftest import TEMPLATE
    from tests.services import clone_database, drop_database

    events = list(merge_heavy_workload(seed=7))
    two = run_with(pipeline_settings, sender, 2, events)

    solo_url = clone_database(template_database, TEMPLATE)
    try:
        from pydantic import SecretStr

        solo_settings = pipeline_settings.model_copy(
            update={
                "database_url": SecretStr(solo_url),
                "processor_group": pipeline_settings.processor_group + "-solo",
            }
        )
        solo_sender = EventSender(solo_settings, sender.producer, sent=0)
        solo_sender.sent = sender.sent
        one = run_with_existing_topic(solo_settings, solo_sender)
    finally:
        drop_database(template_database, solo_url)

    assert len(two) == 60
    assert differences(two, one) == []


def run_with_existing_topic(settings: Settings, sender: EventSender) -> dict[Any, Any]:
    """One processor over the events already on the topic (a fresh group reads from the start)."""
    with RunningProcessor(settings):
        wait_for(
            lambda: consumed_up_to(settings) >= sender.sent,
            timeout=120,
            what="all events applied by one",
        )
    return snapshot(settings)
