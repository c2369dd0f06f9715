"""The processor goes on dead-lettering after its broker restarted and forgot the producer's id,
instead of giving up on the batch (and exiting) after one flush timeout."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from cdp.embedded import EmbeddedBroker
from cdp.kafka import TopicSpec, ensure_topics
from cdp.profiles import Processor
from cdp.settings import Settings
from tests.conftest import wait_for
from tests.kafka_helpers import read_all

pytestmark = pytest.mark.integration

#: Short, so that a round of dead letters fails fast while the producer is stuck (30 s in service).
FLUSH_TIMEOUT_S = 3.0


def create_topics(settings: Settings) -> None:
    topics = settings.topics
    ensure_topics(
        settings,
        [TopicSpec(topics.raw, 1), TopicSpec(topics.dlq, 1), TopicSpec(topics.profile_changes, 1)],
    )


def undecodable(settings: Settings, value: bytes) -> list[Any]:
    """Put `value` (not an event) on the raw topic and consume it back, as the processor would."""
    producer = Producer(settings.kafka_config())
    producer.produce(settings.topics.raw, value)
    assert producer.flush(10) == 0
    consumer = Consumer(settings.consumer_config(f"{settings.processor_group}-reader"))
    try:
        consumer.assign([TopicPartition(settings.topics.raw, 0, OFFSET_BEGINNING)])
        found: list[Any] = []
        deadline = time.monotonic() + 20
        while not found and time.monotonic() < deadline:
            found = [m for m in consumer.consume(10, 0.5) if m.error() is None]
        assert found, "the record put on the raw topic was not consumed back"
        return found
    finally:
        consumer.close()


def dead_letters(settings: Settings) -> list[bytes]:
    return [r.value["payload"] for r in read_all(settings, settings.topics.dlq)]


def test_dead_letters_are_published_after_the_broker_restarts(
    restartable_settings: Settings, own_broker: EmbeddedBroker
) -> None:
    settings = restartable_settings
    create_topics(settings)
    processor = Processor(settings, dlq_flush_timeout_s=FLUSH_TIMEOUT_S)
    try:
        processor.process(undecodable(settings, b"not an event"))
        assert dead_letters(settings) == [b"not an event"]

        own_broker.stop(kill=True)
        own_broker.start()
        create_topics(settings)
        after = undecodable(settings, b"still not an event")
        failed: list[BaseException] = []

        def process() -> None:
            try:
                processor.process(after)
            except BaseException as exc:
                failed.append(exc)

        runner = threading.Thread(target=process, daemon=True)
        runner.start()
        runner.join(90)
        assert not runner.is_alive(), "the dead letter was not published within 90 s"
        assert not failed, failed
        wait_for(
            lambda: dead_letters(settings) == [b"still not an event"],
            timeout=20,
            what="the dead letter on the re-created topic",
        )
    finally:
        processor.close()
