"""The profile processor: micro-batches from the raw topic, each applied in one Postgres transaction.

Effectively once: the consumer offsets live in Postgres, written in the batch's transaction, and
the consumer seeks to them whenever partitions are assigned. Kafka's committed offsets are also
updated after each batch, for lag monitoring only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from cdp.deadletter import DeadLetter, encode_dead_letter
from cdp.errors import RetryableError
from cdp.profiles.apply import BatchApplier, BatchOutcome
from cdp.profiles.decode import STAGE, decode_batch
from cdp.profiles.events import InEvent
from cdp.profiles.observability import (
    BATCH_SECONDS,
    BATCH_SIZE,
    DEAD_LETTERS,
    EVENTS,
    MERGES,
    PROFILES_CREATED,
    RETRIES,
)
from cdp.profiles.offsets import read_offsets
from cdp.profiles.partitions import PartitionKeeper, month_of
from cdp.schemas import Codec, codec_for
from cdp.settings import Settings

__all__ = ["Processor"]

T = TypeVar("T")

log = logging.getLogger(__name__)

#: Backoff between retries of a batch after a transient Postgres error: doubling up to the cap.
RETRY_FIRST_S = 0.1
RETRY_CAP_S = 5.0


class Processor:
    """Consumes `settings.topics.raw` and folds it into the profile store."""

    def __init__(self, settings: Settings, codec: Codec | None = None) -> None:
        self._settings = settings
        self._topic = settings.topics.raw
        self._group = settings.processor_group
        self._codec = codec or codec_for(settings)
        self._applier = BatchApplier(
            settings.identity,
            self._codec,
            self._group,
            self._topic,
            settings.topics.profile_changes,
        )
        self._keeper = PartitionKeeper()
        self._conn = self._connect()
        self._dlq = Producer(
            settings.kafka_config(**{"enable.idempotence": True, "acks": "all", "linger.ms": 5})
        )
        self._consumer = Consumer(
            settings.consumer_config(
                self._group,
                **{"partition.assignment.strategy": "range", "enable.partition.eof": False},
            )
        )
        self._running = False

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self._settings.database_dsn(), autocommit=True)

    def run(self, should_stop: Callable[[], bool] = lambda: False) -> None:
        """Consume and apply batches until `should_stop()` is true; then close everything."""
        self._consumer.subscribe([self._topic], on_assign=self._on_assign)
        wait_s = self._settings.processor_batch_wait_ms / 1000
        try:
            while not should_stop():
                messages = self._consumer.consume(self._settings.processor_batch_max, wait_s)
                records = [m for m in messages if m.error() is None]
                if records:
                    self.process(records)
        finally:
            self.close()

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Seek every assigned partition to the offset stored in Postgres (or the beginning)."""
        stored = self._with_retry(
            lambda: read_offsets(
                self._conn, self._group, self._topic, [tp.partition for tp in partitions]
            )
        )
        for tp in partitions:
            tp.offset = stored.get(tp.partition, OFFSET_BEGINNING)
        consumer.assign(partitions)
        log.info("assigned %s", {tp.partition: tp.offset for tp in partitions})

    def process(self, messages: list[Any]) -> BatchOutcome | None:
        """Apply one batch of consumed messages: dead letters first, then the events."""
        started = time.perf_counter()
        BATCH_SIZE.observe(len(messages))
        next_offsets = _next_offsets(messages)
        events, letters = decode_batch(self._codec, messages)
        self._dead_letter(letters)
        self._with_retry(lambda: self._keeper.ensure(self._conn, {month_of(e.at) for e in events}))
        outcome = self._apply_isolating(events, next_offsets)
        self._consumer.commit(
            offsets=[TopicPartition(self._topic, p, o) for p, o in next_offsets.items()],
            asynchronous=True,
        )
        BATCH_SECONDS.observe(time.perf_counter() - started)
        return outcome

    def _apply_isolating(
        self, events: list[InEvent], next_offsets: dict[int, int]
    ) -> BatchOutcome | None:
        """Apply the batch; if it fails for a reason that is not transient, split it to find the
        event that breaks it, dead-letter that one and apply the rest."""
        try:
            outcome = self._with_retry(lambda: self._apply(events, next_offsets))
        except RetryableError:
            raise
        except Exception as exc:  # noqa: BLE001 - any non-transient failure is isolated to one event
            if len(events) <= 1:
                self._dead_letter([_failed(events[0], exc)] if events else [])
                self._with_retry(lambda: self._apply([], next_offsets))
                return None
            half = len(events) // 2
            self._apply_isolating(events[:half], _next_offsets_of(events[:half]))
            return self._apply_isolating(events[half:], next_offsets)
        _count(outcome)
        return outcome

    def _apply(self, events: list[InEvent], next_offsets: dict[int, int]) -> BatchOutcome:
        with self._conn.transaction():
            return self._applier.apply(self._conn, events, next_offsets)

    def _with_retry(self, work: Callable[[], T]) -> T:
        """Run `work`, retrying transient Postgres failures (deadlock, serialization, connection)
        with capped exponential backoff; the batch is never dropped."""
        delay = RETRY_FIRST_S
        while True:
            try:
                return work()
            except psycopg.OperationalError as exc:
                RETRIES.inc()
                log.warning("transient Postgres error, retrying in %.1fs: %s", delay, exc)
                time.sleep(delay)
                delay = min(delay * 2, RETRY_CAP_S)
                if self._conn.closed or self._conn.broken:
                    self._conn = self._reconnect()

    def _reconnect(self) -> psycopg.Connection[Any]:
        try:
            return self._connect()
        except psycopg.OperationalError:
            return self._conn

    def _dead_letter(self, letters: list[DeadLetter]) -> None:
        """Publish dead letters and wait for the broker before the offsets move past them."""
        if not letters:
            return
        for letter in letters:
            self._dlq.produce(self._settings.topics.dlq, encode_dead_letter(self._codec, letter))
            DEAD_LETTERS.labels(letter.reason).inc()
            EVENTS.labels("dead_lettered").inc()
        remaining = self._dlq.flush(30)
        if remaining:
            raise RetryableError(f"{remaining} dead letters not acknowledged by the broker")

    def close(self) -> None:
        self._consumer.close()
        self._dlq.flush(10)
        self._conn.close()


def _failed(event: InEvent, exc: Exception) -> DeadLetter:
    origin = f"{event.partition}/{event.offset}"
    reason = f"{type(exc).__name__}: {exc}"
    return DeadLetter(
        STAGE, "processing_failed", reason, event.raw, event.source_id, event.message_id, origin
    )


def _count(outcome: BatchOutcome) -> None:
    EVENTS.labels("applied").inc(outcome.applied)
    EVENTS.labels("duplicate").inc(outcome.duplicates)
    EVENTS.labels("replayed").inc(outcome.replayed)
    MERGES.inc(outcome.merges)
    PROFILES_CREATED.inc(outcome.profiles_created)


def _next_offsets(messages: list[Any]) -> dict[int, int]:
    out: dict[int, int] = {}
    for msg in messages:
        out[msg.partition()] = max(out.get(msg.partition(), 0), msg.offset() + 1)
    return out


def _next_offsets_of(events: list[InEvent]) -> dict[int, int]:
    out: dict[int, int] = {}
    for event in events:
        out[event.partition] = max(out.get(event.partition, 0), event.offset + 1)
    return out
