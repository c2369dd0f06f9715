"""Topic creation: idempotent, so every service may call it at start-up."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from cdp.kafka.errors import KafkaSetupError
from cdp.settings import Settings

__all__ = ["TopicSpec", "ensure_topics", "platform_topics", "wait_for_broker"]


@dataclass(frozen=True)
class TopicSpec:
    """A topic cdp needs, with its partitions and any topic-level config."""

    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


def platform_topics(settings: Settings) -> list[TopicSpec]:
    """The topics the pipeline stages produce to or consume from."""
    t = settings.topics
    return [
        TopicSpec(t.raw, t.partitions),
        TopicSpec(t.dlq, t.dlq_partitions, {"retention.ms": str(t.dlq_retention_ms)}),
        TopicSpec(t.profile_changes, t.partitions),
        TopicSpec(t.membership, t.partitions),
        TopicSpec(t.activation_dlq, t.dlq_partitions),
    ]


def wait_for_broker(settings: Settings, timeout: float = 30.0) -> None:
    """Block until the cluster answers a metadata request, or raise `KafkaSetupError`."""
    admin = AdminClient(settings.kafka_config())
    deadline = time.monotonic() + timeout
    while True:
        try:
            admin.list_topics(timeout=1.0)
            return
        except KafkaException as exc:
            if time.monotonic() > deadline:
                raise KafkaSetupError(
                    f"Kafka at {settings.kafka_bootstrap_servers} did not answer"
                ) from exc


def ensure_topics(settings: Settings, specs: list[TopicSpec], timeout: float = 30.0) -> None:
    """Create every topic in `specs` that does not exist yet; existing ones are left as they are."""
    admin = AdminClient(settings.kafka_config())
    new = [
        NewTopic(
            s.name,
            num_partitions=s.partitions,
            replication_factor=settings.topics.replication_factor,
            config=s.config,
        )
        for s in specs
    ]
    if not new:
        return
    for name, future in admin.create_topics(new, request_timeout=timeout).items():
        try:
            future.result(timeout=timeout)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise KafkaSetupError(f"cannot create topic {name}: {exc}") from exc
