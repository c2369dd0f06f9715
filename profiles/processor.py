"""The profile processor: micro-batches from the raw topic, each applied in one Postgres transaction.

Effectively once: the consumer offsets live in Postgres, written in the batch's transaction, and
the consumer seeks to them whenever partitions are assigned. Kafka's committed offsets are also
updated after each batch, for lag monitoring only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from cdp.activation.incremental import IncrementalSegments
from cdp.deadletter import DeadLetter
from cdp.errors import RetryableError
from cdp.kafka.sender import BlockingSender
from cdp.observability import LagStats
from cdp.privacy import Suppressor
from cdp.privacy.atrest import PiiCodec
from cdp.privacy.keystate import pii_codec
from cdp.profiles.apply import BatchApplier, BatchOutcome
from cdp.profiles.contention import held_back
from cdp.profiles.dead_letters import publish_dead_letters
from cdp.profiles.decode import STAGE, EventDecoder
from cdp.profiles.events import InEvent
from cdp.profiles.observability import (
    BATCH_SECONDS,
    BATCH_SIZE,
    DEAD_LETTERS,
    DEFERRED,
    EVENTS,
    MERGES,
    PROFILES_CREATED,
    RETRIES,
    STEP_SECONDS,
    StepClock,
)
from cdp.profiles.offsets import read_offsets
from cdp.profiles.partitions import PartitionKeeper, month_of
from cdp.profiles.pii import PiiWriter
from cdp.profiles.sealing import SealingProcess
from cdp.schemas import Codec, codec_for
from cdp.settings import Settings

__all__ = ["Processor"]

T = TypeVar("T")

log = logging.getLogger(__name__)

#: librdkafka's prefetch limit for the consumer (its default is 64 MB). 16 MB is about 40,000
#: events of the raw topic, eight default batches, so the next batch is always in hand; the
#: processor's RSS was 27 MB lower for it in `cdp bench pipeline`, at the same throughput.
PREFETCH_KBYTES = 16_384

#: How long the broker may hold a fetch for more data (librdkafka's default is 500 ms). The
#: embedded broker holds fetches that long even while events arrive, and answering fetches
#: costs it CPU. Kafka alone at 5,000 events/s, consuming as the processor does: p99
#: produce-to-consume 420 ms and 0.41 broker cores at 500 ms, 255 ms and 0.57 at 100 ms,
#: 220 ms and 0.77 at 20 ms. 100 ms takes most of the latency for a fraction of the CPU, which
#: the processor needs on a machine the broker shares.
FETCH_WAIT_MS = 100

#: Backoff between retries of a batch after a transient Postgres error: doubling up to the cap.
RETRY_FIRST_S = 0.1
RETRY_CAP_S = 5.0

#: How long one round of dead letters waits for the broker's acknowledgment before the ones
#: not acknowledged are sent again (by a new producer after two such rounds, see
#: `cdp.kafka.sender`).
DLQ_FLUSH_TIMEOUT_S = 30.0


class Processor:
    """Consumes `settings.topics.raw` and folds it into the profile store."""

    def __init__(
        self,
        settings: Settings,
        codec: Codec | None = None,
        pii: PiiCodec | None = None,
        dlq_flush_timeout_s: float = DLQ_FLUSH_TIMEOUT_S,
    ) -> None:
        """`pii` defaults to the codec of `settings` (`cdp.privacy.keystate.pii_codec`); the
        caller checks the database's `pii_state` first (`run_processor` does)."""
        self._settings = settings
        self._topic = settings.topics.raw
        self._group = settings.processor_group
        self._codec = codec or codec_for(settings)
        self._decoder = EventDecoder(self._codec)
        pii = pii or pii_codec(settings)
        self._sealer = (
            SealingProcess(pii) if pii.enabled and settings.processor_seal_process else None
        )
        self._applier = BatchApplier(
            settings.identity,
            self._codec,
            self._group,
            self._topic,
            settings.topics.profile_changes,
            IncrementalSegments(self._codec, settings.topics.membership),
            Suppressor(
                settings.privacy.hash_key.get_secret_value().encode(),
                settings.identity,
                prehashed=pii.enabled,
            ),
            PiiWriter(pii),
            self._sealer,
        )
        self._keeper = PartitionKeeper()
        self._conn = self._connect()
        self._dlq = BlockingSender(self._dlq_producer, dlq_flush_timeout_s)
        self._consumer = Consumer(
            settings.consumer_config(
                self._group,
                **{
                    "partition.assignment.strategy": "range",
                    "enable.partition.eof": False,
                    "queued.max.messages.kbytes": PREFETCH_KBYTES,
                    "fetch.wait.max.ms": FETCH_WAIT_MS,
                    **(LagStats(self._group).config() if settings.metrics_port else {}),
                },
            )
        )
        self._running = False
        self._carry: list[InEvent] = []
        """Events the last batch deferred (`cdp.profiles.contention`), applied with the next."""
        self._carry_offsets: dict[int, int] = {}
        """The next offset to read of each partition with events in `_carry`."""

    def _dlq_producer(self) -> Producer:
        return Producer(
            self._settings.kafka_config(
                **{"enable.idempotence": True, "acks": "all", "linger.ms": 5}
            )
        )

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self._settings.database_dsn(), autocommit=True)

    def run(self, should_stop: Callable[[], bool] = lambda: False) -> None:
        """Consume and apply batches until `should_stop()` is true; then close everything.

        Batches overlap by one: while batch N is applied, a worker thread decodes batch N+1
        and does the rest of its database-free work (`_prepare`); the GIL is free while the
        main thread waits on Postgres, so that work costs no wall time. Batch N+1 is consumed
        before batch N is applied, with no wait if N is in hand, so a quiet topic adds no
        latency. The consumed batch not yet applied when the processor stops is applied first.
        Offsets and effects still commit per batch in one transaction, in order, so a crash or
        a rebalance between the two is the same as one between two unpipelined batches.
        """
        if self._sealer is not None:
            self._sealer.start()
        self._consumer.subscribe(
            [self._topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )
        wait_s = self._settings.processor_batch_wait_ms / 1000
        defer = self._settings.processor_defer_contended
        pending: Future[_Prepared] | None = None
        try:
            with ThreadPoolExecutor(1, thread_name_prefix="cdp-prepare") as worker:
                while not should_stop():
                    messages = self._consumer.consume(
                        self._settings.processor_batch_max,
                        0 if pending or self._carry else wait_s,
                    )
                    records = [m for m in messages if m.error() is None]
                    upcoming = worker.submit(self._prepare, records) if records else None
                    if pending is not None:
                        self._process_prepared(pending.result(), defer)
                    elif self._carry:
                        self._process_prepared(_Prepared.empty(), defer)
                    pending = upcoming
                if pending is not None:
                    self._process_prepared(pending.result())
                if self._carry:
                    self._process_prepared(_Prepared.empty())
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

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Forget the deferred events of partitions taken away: their stored offset is at the
        first of them, so the partitions' next owner reads them again."""
        gone = {tp.partition for tp in partitions}
        self._carry = [e for e in self._carry if e.partition not in gone]
        self._carry_offsets = {p: o for p, o in self._carry_offsets.items() if p not in gone}

    def process(self, messages: list[Any]) -> BatchOutcome | None:
        """Apply one batch of consumed messages: dead letters first, then the events."""
        return self._process_prepared(self._prepare(messages))

    def _prepare(self, messages: list[Any]) -> _Prepared:
        """What applying `messages` needs that reads neither Postgres nor processor state:
        decoded events and dead letters, identifiers, timeline text, timeline months."""
        started = time.perf_counter()
        events, letters = self._decoder.decode_batch(messages)
        self._applier.prepare(events)
        try:
            months: set[tuple[int, int]] | None = {month_of(e.at) for e in events}
        except (ValueError, OverflowError, OSError):
            months = None  # raised again, in order, by _process_prepared
        elapsed = time.perf_counter() - started
        STEP_SECONDS.labels("prepare").observe(elapsed)
        return _Prepared(len(messages), _next_offsets(messages), events, letters, months, elapsed)

    def _process_prepared(self, batch: _Prepared, defer: bool = False) -> BatchOutcome | None:
        """Apply a prepared batch after the events the last one deferred; with `defer`, events
        whose identity locks another processor holds are deferred to the next batch."""
        started = time.perf_counter()
        BATCH_SIZE.observe(batch.size)
        self._dead_letter(batch.letters)
        months = (
            batch.months if batch.months is not None else {month_of(e.at) for e in batch.events}
        )
        self._with_retry(lambda: self._keeper.ensure(self._conn, months))
        events = [*self._carry, *batch.events]
        next_offsets = dict(self._carry_offsets)
        for partition, offset in batch.next_offsets.items():
            next_offsets[partition] = max(next_offsets.get(partition, 0), offset)
        outcome = self._apply_isolating(events, next_offsets, defer)
        self._carry = outcome.deferred if outcome is not None else []
        self._carry_offsets = {e.partition: next_offsets[e.partition] for e in self._carry}
        DEFERRED.inc(len(self._carry))
        stored = held_back(next_offsets, [(e.partition, e.offset) for e in self._carry])
        self._consumer.commit(
            offsets=[TopicPartition(self._topic, p, o) for p, o in stored.items()],
            asynchronous=True,
        )
        BATCH_SECONDS.observe(batch.prepare_s + time.perf_counter() - started)
        return outcome

    def _apply_isolating(
        self, events: list[InEvent], next_offsets: dict[int, int], defer: bool = False
    ) -> BatchOutcome | None:
        """Apply the batch; if it fails for a reason that is not transient, split it to find the
        event that breaks it, dead-letter that one and apply the rest (waiting for every lock:
        only the whole batch defers events)."""
        try:
            outcome = self._with_retry(lambda: self._apply(events, next_offsets, defer))
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

    def _apply(
        self, events: list[InEvent], next_offsets: dict[int, int], defer: bool = False
    ) -> BatchOutcome:
        with self._conn.transaction():
            outcome = self._applier.apply(self._conn, events, next_offsets, defer)
            clock = StepClock()
        clock.lap("commit")
        return outcome

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
        """Publish dead letters before the offsets move past them (`publish_dead_letters`)."""
        if not letters:
            return
        for letter in letters:
            DEAD_LETTERS.labels(letter.reason).inc()
            EVENTS.labels("dead_lettered").inc()
        publish_dead_letters(self._dlq, self._codec, self._settings.topics.dlq, letters)

    def close(self) -> None:
        if self._sealer is not None:
            self._sealer.close()
        self._consumer.close()
        self._dlq.close()
        self._conn.close()


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A consumed batch after `Processor._prepare`."""

    size: int
    next_offsets: dict[int, int]
    events: list[InEvent]
    letters: list[DeadLetter]
    months: set[tuple[int, int]] | None
    """The timeline months the events fall in; None if an event time has none."""
    prepare_s: float

    @staticmethod
    def empty() -> _Prepared:
        """No new records: a batch of only the events the last one deferred."""
        return _Prepared(0, {}, [], [], set(), 0.0)


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
