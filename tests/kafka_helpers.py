"""Reading topics back in tests without joining a consumer group (no join delay)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from cdp.schemas import codec_for
from cdp.settings import Settings


@dataclass(frozen=True)
class Consumed:
    key: bytes | None
    partition: int
    value: dict[str, Any]
    tombstone: bool = False
    """True for a record without a value (an exit on a compacted segment topic); `value` is {}."""


def read_all(settings: Settings, topic: str, timeout: float = 20.0) -> list[Consumed]:
    """Every record of `topic` up to its current end, decoded.

    The end is where each partition reports EOF. ListOffsets is not used: the embedded Tansu
    broker reports the high watermark of a multi-record batch as its base offset + 1. The collector
    answers only after the broker acknowledged its records, so reading to EOF is complete.
    """
    codec = codec_for(settings)
    consumer = Consumer(
        settings.kafka_config(
            **{
                "group.id": "tests-read-all",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            }
        )
    )
    try:
        partitions = list(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        pending = set(partitions)
        out: list[Consumed] = []
        deadline = time.monotonic() + timeout
        while pending:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{topic}: no end of partitions {sorted(pending)} within {timeout}s"
                )
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    pending.discard(msg.partition())
                continue
            raw = msg.value()
            decoded = codec.decode_any(raw) if raw is not None else {}
            out.append(Consumed(msg.key(), msg.partition() or 0, decoded, tombstone=raw is None))
        return out
    finally:
        consumer.close()
