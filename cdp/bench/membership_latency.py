"""The latency part of `cdp bench activation`: event produced → membership change on Kafka.

A processor and an outbox relay run as child processes. Segments are applied whose entry the
events trigger at a known event: `active` (computed `event_count >= 1`) at a user's first event,
`buyers` (an `Order Completed`) at the user's first order; `whales` is evaluated on every batch
but never entered. Events of fresh users are offered at a fixed rate; a consumer reads
`cdp.segments.membership`, and each entry is timed from the produce() of the event that
triggered it to the moment the consumer received it (wall clock, one machine), and split at the
change's `at`, stamped when the processor wrote the outbox row.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil
from confluent_kafka import Consumer, KafkaError, Producer

from cdp.activation.operations import apply_definitions
from cdp.activation.segments import SegmentDefinition, parse_segment
from cdp.bench.errors import BenchError
from cdp.bench.processor import ProcessorProcess
from cdp.bench.relay import RelayProcess
from cdp.bench.stall import StallWatch
from cdp.bench.stats import CpuSample, cpu_shares, percentile, sample_cpu
from cdp.db import create_engine
from cdp.ingest.validate import BatchContext, validate_batch
from cdp.schemas import EVENT, MEMBERSHIP_CHANGE, Codec
from cdp.settings import Limits, Settings

__all__ = ["LatencyResult", "bench_segments", "measure_membership_latency"]

SOURCE_ID = "src_bench_activation"
ORDER = "Order Completed"
#: Events per user: each user's first event makes it enter `active`; about one event in five is
#: an order, so most users also enter `buyers`, a few events later.
EVENTS_PER_USER = 4
ORDER_SHARE = 0.2
#: Events of users of their own before the clock starts: the consumer group join, the first
#: timeline partition's DDL and the first relay batches stay out of the figures.
WARMUP_EVENTS = 400
#: Longest sleep of the paced producer: 10 events at 5,000/s (see `cdp.bench.latency`).
PACE_TICK_S = 0.002
#: No new membership change for this long after the last event means something is stuck.
STALL_S = 60.0
WAIT_TICK_S = 0.05


@dataclass(frozen=True, slots=True)
class LatencyResult:
    """Membership entries timed from the produce() of the event that triggered them."""

    offered_rate: float
    achieved_rate: float
    events: int
    expected_changes: int
    matched_changes: int
    unexpected_changes: int
    """Changes of paced users that no event explains (wrong segment, exit, duplicate)."""
    latencies_ms: dict[str, float | None]
    to_outbox_ms: dict[str, float | None]
    """From produce() to the change's `at`, stamped when the processor wrote its outbox row:
    broker, processor batching and the batch's transaction."""
    outbox_to_kafka_ms: dict[str, float | None]
    """From `at` to the consumer: the commit, the relay's wait and publish, the consumer's fetch."""
    by_segment_p99_ms: dict[str, float | None]
    relay_poll_ms: int
    batch_wait_ms: int
    cpu: dict[str, float]


def bench_segments(run_id: str) -> dict[str, SegmentDefinition]:
    """The segments of the latency run by role (active, buyers, whales), slugs unique per run."""
    definitions = {
        "active": {"computed": {"name": "event_count", "op": "gte", "value": 1}},
        "buyers": {"event": {"name": ORDER, "at_least": 1}},
        "whales": {"computed": {"name": "total_revenue", "op": "gte", "value": 1_000_000}},
    }
    return {
        role: parse_segment(
            {
                "slug": f"bench-{role}-{run_id}",
                "name": f"Bench {role}",
                "condition": condition,
                "emit": {"identifiers": ["user_id"]},
            }
        )
        for role, condition in definitions.items()
    }


#: A change read from the topic: segment, user, entered/exited, received at, its `at`.
Change = tuple[str, str, str, float, float]


def _epoch_s(at: datetime | int) -> float:
    """The record's `at` (timestamp-millis: a datetime when decoded) in epoch seconds."""
    return at.timestamp() if isinstance(at, datetime) else at / 1000


@dataclass(frozen=True, slots=True)
class _Event:
    user: str
    order: bool
    key: bytes
    value: bytes


def make_events(count: int, prefix: str, seed: int, codec: Codec) -> list[_Event]:
    """`count` track events of `count / EVENTS_PER_USER` fresh users, interleaved at random,
    encoded as the collector puts them on the raw topic."""
    rng = random.Random(seed)
    users = max(1, count // EVENTS_PER_USER)
    limits = Limits()
    out = []
    for n in range(count):
        user = f"{prefix}{rng.randrange(users)}"
        order = rng.random() < ORDER_SHARE
        at = int(time.time() * 1000)
        message = {
            "type": "track",
            "userId": user,
            "event": ORDER if order else "Product Viewed",
            "messageId": f"{prefix}-{n}",
            "timestamp": datetime.fromtimestamp(at / 1000, UTC).isoformat(),
            "properties": {"revenue": 10} if order else {"sku": f"sku-{n % 97}"},
        }
        oks, errs = validate_batch([message], BatchContext(SOURCE_ID, at, limits))
        if errs:
            raise BenchError(f"the bench made an invalid event: {errs[0].message}")
        out.append(_Event(user, order, oks[0].key or b"", codec.encode(EVENT, oks[0].envelope)))
    return out


def expected_triggers(events: list[_Event], slugs: dict[str, str]) -> dict[tuple[str, str], int]:
    """(segment slug, user) → index of the event that makes the user enter it."""
    found: dict[tuple[str, str], int] = {}
    for n, event in enumerate(events):
        found.setdefault((slugs["active"], event.user), n)
        if event.order:
            found.setdefault((slugs["buyers"], event.user), n)
    return found


class _ChangeReader:
    """Consumes the membership topic in a thread: (segment, user, change, receive time, `at`)
    each, times in epoch seconds."""

    def __init__(self, settings: Settings, codec: Codec, group: str) -> None:
        self._consumer = Consumer(
            settings.kafka_config(
                **{
                    "group.id": group,
                    "auto.offset.reset": "earliest",
                    "enable.auto.commit": False,
                    "fetch.wait.max.ms": 10,
                }
            )
        )
        self._consumer.subscribe([settings.topics.membership])
        self._codec = codec
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.changes: list[Change] = []
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name="membership-reader", daemon=True)

    def __enter__(self) -> _ChangeReader:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self._consumer.close()

    def snapshot(self) -> list[Change]:
        with self._lock:
            return list(self.changes)

    def _run(self) -> None:
        while not self._stop.is_set():
            message = self._consumer.poll(0.05)
            if message is None:
                continue
            received = time.time()
            error, value = message.error(), message.value()
            if error is not None or value is None:
                if error is not None and error.code() != KafkaError._PARTITION_EOF:
                    self.error = str(error)
                continue
            record = self._codec.decode(MEMBERSHIP_CHANGE, value)
            users = [i.partition(":")[2] for i in record["identifiers"]]
            with self._lock:
                for user in users:
                    self.changes.append(
                        (
                            record["segment"],
                            user,
                            record["change"],
                            received,
                            _epoch_s(record["at"]),
                        )
                    )


def measure_membership_latency(
    settings: Settings,
    codec: Codec,
    run_id: str,
    rate: float,
    seconds: float,
    logs: Path,
    services: Callable[[], dict[str, psutil.Process]],
) -> LatencyResult:
    """Apply the bench segments, start a processor and a relay, offer `rate` events/s for
    `seconds` and time every membership entry the events trigger."""
    segments = bench_segments(run_id)
    slugs = {role: d.slug for role, d in segments.items()}
    engine = create_engine(settings, pool_size=1)
    try:
        apply_definitions(settings, engine, list(segments.values()))
    finally:
        engine.dispose()
    warmup = make_events(WARMUP_EVENTS, "w", 1, codec)
    paced = make_events(max(1, round(rate * seconds)), "u", 2, codec)
    expected = expected_triggers(paced, slugs)
    producer = Producer(
        settings.kafka_config(
            **{"enable.idempotence": True, "acks": "all", "linger.ms": 5, "compression.type": "lz4"}
        )
    )
    topic = settings.topics.raw
    with contextlib.ExitStack() as stack:
        processor = stack.enter_context(ProcessorProcess(settings, logs / "processor.log"))
        relay = stack.enter_context(RelayProcess(settings, logs / "relay.log"))
        reader = stack.enter_context(_ChangeReader(settings, codec, f"bench-reader-{run_id}"))
        for event in warmup:
            producer.produce(topic, event.value, event.key)
        producer.flush(30)
        warm_users = {e.user for e in warmup}
        _wait(
            lambda: warm_users <= {c[1] for c in reader.snapshot() if c[0] == slugs["active"]},
            processor,
            relay,
            reader,
        )
        watched = {"processor": processor.process, **services(), "bench": psutil.Process()}
        before = sample_cpu(watched)
        sent_at = [0.0] * len(paced)
        started = time.monotonic()
        produced = 0
        while produced < len(paced):
            now = time.monotonic()
            due = min(len(paced), int((now - started) * rate) + 1)
            wall = time.time()
            for n in range(produced, due):
                producer.produce(topic, paced[n].value, paced[n].key)
                sent_at[n] = wall
            produced = due
            producer.poll(0)
            time.sleep(max(0.0, min(PACE_TICK_S, started + produced / rate - time.monotonic())))
        offered_s = time.monotonic() - started
        if producer.flush(30):
            raise BenchError("the broker did not take every event")
        _wait(lambda: _seen(reader, expected) >= len(expected), processor, relay, reader)
        after = sample_cpu(watched)
        changes = reader.snapshot()
    return _result(
        changes, expected, sent_at, slugs, rate, len(paced), offered_s, settings, before, after
    )


def _seen(reader: _ChangeReader, expected: dict[tuple[str, str], int]) -> int:
    return len(
        {(c[0], c[1]) for c in reader.snapshot() if c[2] == "entered" and (c[0], c[1]) in expected}
    )


def _wait(
    done: Callable[[], bool],
    processor: ProcessorProcess,
    relay: RelayProcess,
    reader: _ChangeReader,
) -> None:
    """Block until `done()`; `BenchError` if a child exits, the reader fails or nothing new
    arrives for `STALL_S`."""
    watch = StallWatch(STALL_S)
    while not done():
        processor.check_alive()
        if relay.exited():
            raise BenchError(f"the relay exited:\n{relay.log_tail()}")
        if reader.error is not None:
            raise BenchError(f"reading the membership topic failed: {reader.error}")
        count = len(reader.snapshot())
        if watch.stalled(count):
            raise BenchError(f"no membership change for {STALL_S:.0f} s ({count:,} so far)")
        time.sleep(WAIT_TICK_S)


def _result(
    changes: list[Change],
    expected: dict[tuple[str, str], int],
    sent_at: list[float],
    slugs: dict[str, str],
    rate: float,
    events: int,
    offered_s: float,
    settings: Settings,
    before: CpuSample,
    after: CpuSample,
) -> LatencyResult:
    """Each expected entry's first arrival against its trigger's send time."""
    paced_users = {u for _, u in expected}
    first: dict[tuple[str, str], tuple[float, float]] = {}
    unexpected = 0
    for segment, user, change, received, at in changes:
        if user not in paced_users:
            continue
        key = (segment, user)
        if change != "entered" or key not in expected or key in first:
            unexpected += 1
            continue
        first[key] = (received, at)
    latencies: dict[str, list[float]] = {slug: [] for slug in slugs.values()}
    to_outbox, to_kafka = [], []
    for key, (received, at) in first.items():
        sent = sent_at[expected[key]]
        latencies[key[0]].append((received - sent) * 1000)
        to_outbox.append((at - sent) * 1000)
        to_kafka.append((received - at) * 1000)
    every = [ms for values in latencies.values() for ms in values]
    return LatencyResult(
        offered_rate=rate,
        achieved_rate=events / offered_s if offered_s > 0 else 0.0,
        events=events,
        expected_changes=len(expected),
        matched_changes=len(first),
        unexpected_changes=unexpected,
        latencies_ms={
            "min": min(every, default=None),
            "p50": percentile(every, 50),
            "p99": percentile(every, 99),
            "max": percentile(every, 100),
        },
        to_outbox_ms={"p50": percentile(to_outbox, 50), "p99": percentile(to_outbox, 99)},
        outbox_to_kafka_ms={"p50": percentile(to_kafka, 50), "p99": percentile(to_kafka, 99)},
        by_segment_p99_ms={role: percentile(latencies[slug], 99) for role, slug in slugs.items()},
        relay_poll_ms=settings.relay_poll_ms,
        batch_wait_ms=settings.processor_batch_wait_ms,
        cpu=cpu_shares(before, after),
    )
