"""Putting a synthetic workload on the raw topic as the collector would."""

from __future__ import annotations

import time
from dataclasses import dataclass

from confluent_kafka import KafkaError, Message, Producer

from cdp.bench.errors import BenchError
from cdp.bench.synthetic import Workload
from cdp.ingest.validate import BatchContext, validate_batch
from cdp.schemas import EVENT, Codec
from cdp.settings import Limits, Settings

__all__ = ["FeedRecord", "bench_producer", "encode_workload", "produce_all"]

SOURCE_ID = "src_bench_pipeline"
#: Collectors stamp `receivedAt` shortly after the event happened; a fixed delay keeps the
#: envelopes deterministic.
RECEIVE_DELAY_MS = 250
#: A producer queue big enough that producing a whole workload rarely waits on the broker.
PRODUCER_QUEUE = 500_000


@dataclass(frozen=True, slots=True)
class FeedRecord:
    """One workload event as the raw topic gets it: its key and its framed Avro value."""

    key: bytes
    value: bytes


def encode_workload(workload: Workload, codec: Codec) -> list[FeedRecord]:
    """Each message as the collector would put it on the raw topic: validated into an envelope,
    Avro-encoded, keyed by anonymousId else userId."""
    limits = Limits()
    records = []
    for message, at in zip(workload.messages, workload.times, strict=True):
        oks, errs = validate_batch(
            [message], BatchContext(SOURCE_ID, at + RECEIVE_DELAY_MS, limits)
        )
        if errs:
            raise BenchError(f"the generator made an invalid event: {errs[0].message}")
        records.append(FeedRecord(oks[0].key or b"", codec.encode(EVENT, oks[0].envelope)))
    return records


def bench_producer(settings: Settings, linger_ms: int) -> Producer:
    """An idempotent, acks=all, lz4 producer, as the collector's."""
    return Producer(
        settings.kafka_config(
            **{
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": linger_ms,
                "compression.type": "lz4",
                "queue.buffering.max.messages": PRODUCER_QUEUE,
            }
        )
    )


def produce_all(settings: Settings, records: list[FeedRecord]) -> float:
    """Put `records` on the raw topic and wait for every acknowledgement; the seconds it took."""
    producer = bench_producer(settings, linger_ms=20)
    failures: list[str] = []

    def delivered(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            failures.append(str(err))

    started = time.perf_counter()
    topic = settings.topics.raw
    for record in records:
        while True:
            try:
                producer.produce(topic, record.value, record.key, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
    if producer.flush(120) or failures:
        raise BenchError(f"the broker did not take every event: {failures[:3]}")
    return time.perf_counter() - started
