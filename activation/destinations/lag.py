"""Consumer-group lag of each destination on `cdp.segments.membership`.

The end of a partition is its high watermark. On the embedded Tansu broker ListOffsets reports the
high watermark of a multi-record batch as its base offset + 1, so lag there can read low.
"""

from __future__ import annotations

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from cdp.activation.destinations.agent import group_id
from cdp.kafka import KafkaSetupError
from cdp.settings import Settings

__all__ = ["destination_lag"]

TIMEOUT_S = 10.0


def destination_lag(settings: Settings, names: list[str]) -> dict[str, int | None]:
    """Messages not yet finished per destination (None when the group has committed nothing or
    the topic does not exist yet)."""
    topic = settings.topics.membership
    consumer = Consumer(settings.kafka_config(**{"group.id": "cdp-lag-probe"}))
    admin = AdminClient(settings.kafka_config())
    try:
        metadata = consumer.list_topics(topic, timeout=TIMEOUT_S).topics.get(topic)
        partitions = sorted(metadata.partitions) if metadata is not None else []
        if not partitions:
            return dict.fromkeys(names)
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=TIMEOUT_S)[1]
            for p in partitions
        }
        out: dict[str, int | None] = {}
        for name in names:
            request = ConsumerGroupTopicPartitions(
                group_id(settings, name), [TopicPartition(topic, p) for p in partitions]
            )
            future = admin.list_consumer_group_offsets([request])[request.group_id]
            committed = {
                tp.partition: tp.offset for tp in future.result(TIMEOUT_S).topic_partitions
            }
            if all(committed.get(p, -1) < 0 for p in partitions):
                out[name] = None
                continue
            out[name] = sum(max(0, ends[p] - max(0, committed.get(p, 0))) for p in partitions)
        return out
    except KafkaException as exc:
        raise KafkaSetupError(f"cannot read consumer group offsets: {exc}") from exc
    finally:
        consumer.close()
