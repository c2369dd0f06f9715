"""The relay goes on publishing after its broker restarted and forgot the producer's id."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import psycopg
import pytest

from cdp.activation import OutboxRelay
from cdp.embedded import EmbeddedBroker
from cdp.kafka import TopicSpec, ensure_topics
from cdp.schemas import MEMBERSHIP_CHANGE, codec_for
from cdp.settings import Settings
from tests.conftest import wait_for
from tests.integration.profiles.conftest import (  # noqa: F401 - fixtures
    pipeline_settings,
    restartable_settings,
    template_database,
)
from tests.kafka_helpers import read_all

pytestmark = pytest.mark.integration

#: Short, so that the relay fails fast while its producer is stuck (30 s in service).
FLUSH_TIMEOUT_S = 3.0


def create_topic(settings: Settings) -> None:
    ensure_topics(settings, [TopicSpec(settings.topics.profile_changes, 3)])


def queue_change(settings: Settings) -> str:
    """One outbox row for the changes topic; its change id."""
    change_id = str(uuid.uuid4())
    record: dict[str, Any] = {
        "change_id": change_id,
        "segment": "vip",
        "segment_version": 1,
        "profile_id": 7,
        "change": "entered",
        "at": int(time.time() * 1000),
        "traits": "{}",
        "identifiers": [],
        "reason": "evaluation",
    }
    value = codec_for(settings).encode(MEMBERSHIP_CHANGE, record)
    with psycopg.connect(settings.database_dsn()) as conn:
        conn.execute(
            "INSERT INTO outbox (topic, key, value) VALUES (%s, %s, %s)",
            (settings.topics.profile_changes, b"7", value),
        )
    return change_id


def outbox_rows(settings: Settings) -> int:
    with psycopg.connect(settings.database_dsn()) as conn:
        row = conn.execute("SELECT count(*) FROM outbox").fetchone()
    assert row is not None
    return int(row[0])


def test_the_relay_publishes_again_after_the_broker_restarts(
    restartable_settings: Settings,  # noqa: F811
    own_broker: EmbeddedBroker,
) -> None:
    settings = restartable_settings
    create_topic(settings)
    relay = OutboxRelay(settings, flush_timeout_s=FLUSH_TIMEOUT_S)
    queue_change(settings)
    assert relay.relay_once() == 1

    own_broker.stop(kill=True)
    own_broker.start()
    create_topic(settings)
    after = queue_change(settings)
    stop = threading.Event()
    runner = threading.Thread(target=relay.run, args=(stop.is_set,))
    runner.start()
    try:
        wait_for(
            lambda: outbox_rows(settings) == 0,
            timeout=90,
            interval=0.5,
            what="the relay to publish the row queued after the restart",
        )
    finally:
        stop.set()
        runner.join(60)

    published = {r.value["change_id"] for r in read_all(settings, settings.topics.profile_changes)}
    assert after in published
