"""Kafka plumbing shared by every stage: topic admin and an asyncio producer."""

from cdp.kafka.admin import TopicSpec, ensure_topics, platform_topics, wait_for_broker
from cdp.kafka.errors import BrokerUnavailable, KafkaSetupError
from cdp.kafka.producer import AsyncProducer, Record

__all__ = [
    "AsyncProducer",
    "BrokerUnavailable",
    "KafkaSetupError",
    "Record",
    "TopicSpec",
    "ensure_topics",
    "platform_topics",
    "wait_for_broker",
]
