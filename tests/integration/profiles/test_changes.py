"""Profile changes go through the outbox and the relay to the changes topic."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cdp.activation import OutboxRelay
from cdp.settings import Settings
from tests.integration.profiles.conftest import EventSender, RunningProcessor, query
from tests.integration.profiles.test_identity_scenarios import (
    at,
    merge_within_one_batch,
    profile_of,
)
from tests.kafka_helpers import read_all

pytestmark = pytest.mark.integration


def test_created_updated_and_merged_changes_are_published(
    pipeline_settings: Settings,
    sender: EventSender,
    processor: RunningProcessor,
    processed: Callable[[], None],
) -> None:
    sender.send(
        {
            "type": "identify",
            "userId": "pat",
            "anonymousId": "web-1",
            "traits": {"tier": "gold"},
            "messageId": "p1",
            "timestamp": at(1),
        }
    )
    processed()
    sender.send(
        {
            "type": "track",
            "anonymousId": "app-1",
            "event": "Opened",
            "messageId": "p2",
            "timestamp": at(2),
        }
    )
    processed()
    sender.send(
        {
            "type": "identify",
            "userId": "pat",
            "anonymousId": "app-1",
            "traits": {"tier": "platinum"},
            "messageId": "p3",
            "timestamp": at(3),
        }
    )
    processed()

    relay = OutboxRelay(pipeline_settings)
    published = relay.relay_once()

    assert published >= 3
    assert query(pipeline_settings, "SELECT count(*) FROM outbox") == [(0,)]
    pat = profile_of(pipeline_settings, "user_id", "pat")
    changes = [
        c.value for c in read_all(pipeline_settings, pipeline_settings.topics.profile_changes)
    ]
    assert len({c["change_id"] for c in changes}) == len(changes)
    kinds = [(c["kind"], c["profile_id"]) for c in changes]
    assert ("created", pat) in kinds
    [merged] = [c for c in changes if c["kind"] == "merged"]
    assert merged["profile_id"] == pat
    assert merged["message_id"] == "p3"
    assert len(merged["merged_from"]) == 1
    assert "anonymous_id:app-1" in merged["identifiers"]
    assert '"platinum"' in merged["traits"]
    assert all(
        c.key == str(c.value["profile_id"]).encode()
        for c in read_all(pipeline_settings, pipeline_settings.topics.profile_changes)
    )


def test_a_merge_of_a_profile_made_in_the_same_batch_is_published(
    pipeline_settings: Settings, sender: EventSender, processed: Callable[[], None]
) -> None:
    sam, phone = merge_within_one_batch(pipeline_settings, sender, processed)

    OutboxRelay(pipeline_settings).relay_once()

    changes = [
        c.value for c in read_all(pipeline_settings, pipeline_settings.topics.profile_changes)
    ]
    [merged] = [c for c in changes if c["kind"] == "merged"]
    assert merged["profile_id"] == sam
    assert merged["merged_from"] == [phone]
    assert merged["message_id"] == "b2"
    assert "anonymous_id:phone" in merged["identifiers"]
