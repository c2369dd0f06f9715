"""Topic end offsets and consumer lag, read without joining a consumer group.

The embedded Tansu broker reports the high watermark of a multi-record batch as the batch's base
offset + 1, so the end of a partition is found by reading from that (possibly low) watermark to the
partition EOF: only the last batch is read, and on a real Kafka cluster the answer is the watermark.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from cdp.ops.errors import OpsError
from cdp.settings import Settings

__all__ = ["PartitionLag", "end_offsets", "lag_rows", "ops_consumer"]

#: Long enough for a metadata round trip and one fetch on a loaded two-core machine.
READ_TIMEOUT_S = 5.0
POLL_S = 0.1


@dataclass(frozen=True, slots=True)
class PartitionLag:
    """One consumer group's position in one partition and how far behind the end it is."""

    group: str
    topic: str
    partition: int
    committed: int
    end: int

    @property
    def lag(self) -> int:
        return max(0, self.end - self.committed)


def ops_consumer(settings: Settings) -> Consumer:
    """A consumer that is only ever assigned partitions (no group join, no commits)."""
    return Consumer(
        settings.kafka_config(
            **{
                "group.id": "cdp-ops",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            }
        )
    )


def partitions_of(consumer: Consumer, topic: str) -> list[int]:
    """The partition numbers of `topic`; [] if it does not exist."""
    try:
        metadata = consumer.list_topics(topic, timeout=READ_TIMEOUT_S).topics.get(topic)
    except KafkaException as exc:
        raise OpsError(f"cannot read the metadata of {topic}: {exc}") from exc
    if metadata is None or metadata.error is not None:
        return []
    return sorted(metadata.partitions)


def end_offsets(consumer: Consumer, topic: str) -> dict[int, tuple[int, int]]:
    """``{partition: (low, end)}`` of `topic`, the end read to EOF (see the module docstring)."""
    bounds: dict[int, tuple[int, int]] = {}
    for partition in partitions_of(consumer, topic):
        try:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=READ_TIMEOUT_S
            )
        except KafkaException as exc:
            raise OpsError(f"cannot read the offsets of {topic}[{partition}]: {exc}") from exc
        bounds[partition] = (max(low, 0), max(high, 0))
    starts = {p: high - 1 for p, (low, high) in bounds.items() if high > low}
    ends = _read_to_eof(consumer, topic, starts)
    return {p: (low, max(high, ends.get(p, high))) for p, (low, high) in bounds.items()}


def _read_to_eof(consumer: Consumer, topic: str, starts: dict[int, int]) -> dict[int, int]:
    """Per partition, one past the last offset seen reading from `starts` to EOF."""
    if not starts:
        return {}
    consumer.assign([TopicPartition(topic, p, o) for p, o in starts.items()])
    ends = dict(starts)
    pending = set(starts)
    deadline = time.monotonic() + READ_TIMEOUT_S
    try:
        while pending and time.monotonic() < deadline:
            msg = consumer.poll(POLL_S)
            if msg is None:
                continue
            partition = msg.partition()
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF and partition is not None:
                    pending.discard(partition)
                continue
            offset = msg.offset()
            if partition is not None and offset is not None:
                ends[partition] = max(ends[partition], offset + 1)
    finally:
        consumer.unassign()
    if pending:
        raise OpsError(f"{topic}: no end of partitions {sorted(pending)} within {READ_TIMEOUT_S}s")
    return ends


def lag_rows(
    stored: Iterable[tuple[str, str, int, int]], ends: dict[str, dict[int, tuple[int, int]]]
) -> list[PartitionLag]:
    """Lag of each stored ``(group, topic, partition, next_offset)`` against the topics' ends."""
    rows = []
    for group, topic, partition, committed in stored:
        end = ends.get(topic, {}).get(partition, (0, committed))[1]
        rows.append(PartitionLag(group, topic, partition, committed, end))
    return sorted(rows, key=lambda r: (r.group, r.topic, r.partition))


def as_dict(row: PartitionLag) -> dict[str, Any]:
    return {
        "group": row.group,
        "topic": row.topic,
        "partition": row.partition,
        "committed": row.committed,
        "end": row.end,
        "lag": row.lag,
    }
