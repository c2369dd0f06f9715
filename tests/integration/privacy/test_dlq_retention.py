"""The dead-letter topic is created with the retention the settings give."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._config import ConfigResource

from cdp.kafka import ensure_topics, platform_topics
from cdp.settings import Settings, Topics

pytestmark = pytest.mark.integration


def test_the_dead_letter_topic_gets_retention_ms_from_the_settings(base_settings: Settings) -> None:
    tag = uuid.uuid4().hex[:8]
    topics = Topics(
        raw=f"test.dlqret.raw.{tag}",
        dlq=f"test.dlqret.dlq.{tag}",
        profile_changes=f"test.dlqret.changes.{tag}",
        membership=f"test.dlqret.membership.{tag}",
        activation_dlq=f"test.dlqret.adlq.{tag}",
        partitions=1,
        dlq_retention_ms=3_600_000,
    )
    settings = base_settings.model_copy(update={"topics": topics})

    ensure_topics(settings, platform_topics(settings))

    admin = AdminClient(settings.kafka_config())
    resource = ConfigResource(ConfigResource.Type.TOPIC, topics.dlq)
    [future] = admin.describe_configs([resource]).values()
    config = future.result(timeout=10)
    assert config["retention.ms"].value == "3600000"
