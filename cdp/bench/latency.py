"""The pipeline bench's latency run: events offered at a fixed rate, each timed from produce()
to the first moment its partition's stored offset passes it."""

from __future__ import annotations

import bisect
import contextlib
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from pathlib import Path

import psutil
import psycopg
from confluent_kafka import KafkaError, Message

from cdp.bench.errors import BenchError
from cdp.bench.feed import FeedRecord, bench_producer
from cdp.bench.pipeline_report import LatencyResult
from cdp.bench.stats import percentile, sample_cpu
from cdp.bench.throughput import (
    applied_offsets,
    grouped_shares,
    rss_of,
    start_processors,
    wait_applied,
    watched,
)
from cdp.settings import Settings

__all__ = ["LATENCY_WARMUP_EVENTS", "measure_latency"]

#: How often the stored offsets are read during the latency run; it bounds the timing error
#: (20 ms against latencies of hundreds), and reading more often takes CPU from what is measured.
LATENCY_POLL_S = 0.02
#: Events sent and applied before the latency clock starts: the consumer group join (several
#: seconds on the embedded broker) and the first partitions' DDL stay out of the figures.
LATENCY_WARMUP_EVENTS = 500
#: Longest sleep of the paced producer between sends: 10 events at 5,000/s, so sends stay
#: within 2 ms of their due time without the loop waking more often than it needs to.
PACE_TICK_S = 0.002
#: How often the processors' RSS is read while events are paced (reading it costs a /proc read
#: per process; every tick it took a tenth of a core).
RSS_SAMPLE_S = 0.1


class _OffsetWatcher:
    """Reads the stored offsets every `interval` s in a thread; when each offset was first seen."""

    def __init__(self, settings: Settings, interval: float) -> None:
        self._settings = settings
        self._interval = interval
        self._stop = threading.Event()
        self.seen: dict[int, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="offset-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        if self.error is not None:
            raise BenchError(f"reading the stored offsets failed: {self.error}")

    def _run(self) -> None:
        """Read until stopped, and once more after: whatever was applied before `stop()` was
        called is then observed."""
        try:
            with psycopg.connect(self._settings.database_dsn(), autocommit=True) as conn:
                while True:
                    stopping = self._stop.is_set()
                    offsets = applied_offsets(conn, self._settings)
                    now = time.monotonic()
                    for partition, offset in offsets.items():
                        values, times = self.seen[partition]
                        if not values or offset > values[-1]:
                            values.append(offset)
                            times.append(now)
                    if stopping:
                        return
                    self._stop.wait(self._interval)
        except BaseException as exc:  # noqa: BLE001 - reported by stop()
            self.error = exc

    def applied_at(self, partition: int, offset: int) -> float | None:
        """When the stored next offset of `partition` was first seen past `offset`."""
        values, times = self.seen.get(partition, ([], []))
        i = bisect.bisect_right(values, offset)
        return times[i] if i < len(values) else None


def measure_latency(
    settings: Settings,
    records: list[FeedRecord],
    rate: float,
    logs: Path,
    services: Callable[[], dict[str, psutil.Process]],
    processors: int = 1,
) -> LatencyResult:
    """Offer `records` at `rate` events/s to a running processor; produce-to-applied latencies."""
    warmup, paced = records[:LATENCY_WARMUP_EVENTS], records[LATENCY_WARMUP_EVENTS:]
    producer = bench_producer(settings, linger_ms=5)
    sent: list[tuple[int, int, float]] = []
    failures: list[str] = []

    def delivered(sent_at: float, err: KafkaError | None, msg: Message) -> None:
        partition, offset = msg.partition(), msg.offset()
        if err is not None or partition is None or offset is None:
            failures.append(str(err))
        else:
            sent.append((partition, offset, sent_at))

    topic = settings.topics.raw
    with contextlib.ExitStack() as stack:
        running = start_processors(stack, settings, logs, processors)
        conn = stack.enter_context(psycopg.connect(settings.database_dsn(), autocommit=True))
        for record in warmup:
            producer.produce(topic, record.value, record.key)
        producer.flush(30)
        wait_applied(conn, settings, running, len(warmup))
        watcher = _OffsetWatcher(settings, LATENCY_POLL_S)
        watcher.start()
        rss_peak = 0
        before = sample_cpu(watched(running, services()))
        started = sampled = time.monotonic()
        produced = 0
        while produced < len(paced):
            now = time.monotonic()
            due = min(len(paced), int((now - started) * rate) + 1)
            for record in paced[produced:due]:
                producer.produce(
                    topic, record.value, record.key, on_delivery=partial(delivered, now)
                )
            produced = due
            producer.poll(0)
            if now - sampled >= RSS_SAMPLE_S:
                rss_peak = max(rss_peak, *(rss_of(p.process) for p in running))
                sampled = now
            time.sleep(max(0.0, min(PACE_TICK_S, started + produced / rate - time.monotonic())))
        offered_s = time.monotonic() - started
        if producer.flush(30) or failures:
            raise BenchError(f"the broker did not take every event: {failures[:3]}")
        wait_applied(conn, settings, running, len(records))
        after = sample_cpu(watched(running, services()))
        rss_peak = max(rss_peak, *(rss_of(p.process) for p in running))
        watcher.stop()
    latencies = []
    for partition, offset, sent_at in sent:
        applied_at = watcher.applied_at(partition, offset)
        if applied_at is None:
            raise BenchError(f"no observation of offset {offset} of partition {partition}")
        latencies.append((applied_at - sent_at) * 1000)
    return LatencyResult(
        offered_rate=rate,
        achieved_rate=len(paced) / offered_s,
        events=len(latencies),
        latencies_ms={
            "p50": percentile(latencies, 50),
            "p99": percentile(latencies, 99),
            "max": percentile(latencies, 100),
        },
        poll_interval_ms=LATENCY_POLL_S * 1000,
        rss_peak=rss_peak,
        cpu=grouped_shares(before, after),
    )
