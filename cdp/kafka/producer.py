"""An asyncio front for confluent-kafka's producer.

`send` returns only after the broker acknowledged every record (acks=all, idempotent producer),
so an HTTP handler can answer `200` knowing the events are durable. A background thread serves
librdkafka's callbacks and hands each delivery report to the event loop.

Availability is tracked so that a request fails fast with `BrokerUnavailable` while every broker is
down, instead of queueing records the SDK will resend anyway (its retry carries the same messageIds).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import orjson
from confluent_kafka import KafkaError, Message, Producer

from cdp.kafka.errors import BrokerUnavailable
from cdp.settings import Settings

__all__ = ["AsyncProducer", "Record"]

log = logging.getLogger(__name__)

#: How long the poll thread blocks in librdkafka per call; short enough to stop promptly.
POLL_INTERVAL_S = 0.05

#: librdkafka reports every record by `delivery.timeout.ms`; waiting a little longer than that
#: only matters if a report is lost (a producer replaced after a fatal error), so no request hangs.
AWAIT_MARGIN_S = 2.0


@dataclass(frozen=True, slots=True)
class Record:
    """One record to produce."""

    topic: str
    value: bytes
    key: bytes | None = None


class AsyncProducer:
    """Produces records and awaits their delivery reports from asyncio code."""

    def __init__(self, settings: Settings) -> None:
        self._config = dict(settings.producer_config())
        self._config["error_cb"] = self._on_error
        self._config["stats_cb"] = self._on_stats
        self._producer = Producer(self._config)
        self._await_timeout_s = settings.producer_delivery_timeout_ms / 1000 + AWAIT_MARGIN_S
        self._available = True
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._poll_forever, name="kafka-producer-poll", daemon=True
        )
        self._thread.start()

    @property
    def available(self) -> bool:
        """False while librdkafka reports every broker down."""
        return self._available

    def queue_length(self) -> int:
        """Records waiting in the local queue or in flight."""
        return len(self._producer)

    async def send(self, records: Sequence[Record]) -> None:
        """Produce `records` and wait until the broker acknowledged all of them.

        Raises `BrokerUnavailable` when the brokers are down, the local queue is full, or any
        record was not acknowledged within the delivery timeout.
        """
        if not records:
            return
        if not self._available:
            raise BrokerUnavailable("no Kafka broker is reachable")
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        pending = _Pending(len(records), loop, done)
        try:
            with self._lock:
                producer = self._producer
            for record in records:
                producer.produce(
                    record.topic, record.value, record.key, on_delivery=pending.on_delivery
                )
        except BufferError as exc:
            pending.abandon()
            raise BrokerUnavailable("the producer queue is full") from exc
        try:
            await asyncio.wait_for(done, self._await_timeout_s)
        except TimeoutError as exc:
            pending.abandon()
            raise BrokerUnavailable("no delivery report within the delivery timeout") from exc

    def _poll_forever(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                producer = self._producer
            producer.poll(POLL_INTERVAL_S)

    def _on_error(self, err: KafkaError) -> None:
        if err.code() == KafkaError._ALL_BROKERS_DOWN:
            self._available = False
        if err.fatal():
            log.error("fatal producer error, starting a new producer: %s", err)
            self._replace()
        else:
            log.warning("kafka producer: %s", err)

    def _on_stats(self, stats_json: str) -> None:
        stats = orjson.loads(stats_json)
        brokers = stats.get("brokers", {}).values()
        self._available = any(b.get("state") == "UP" and b.get("nodeid", -1) >= 0 for b in brokers)

    def _replace(self) -> None:
        """Swap in a fresh producer after a fatal (idempotence) error; the old one is abandoned."""
        fresh = Producer(self._config)
        with self._lock:
            self._producer = fresh

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued (up to `timeout`) and stop the poll thread."""
        deadline = time.monotonic() + timeout
        self._producer.flush(timeout)
        self._stop.set()
        self._thread.join(max(0.0, deadline - time.monotonic()) + 1.0)


class _Pending:
    """Counts the delivery reports of one `send` and settles its future on the event loop."""

    __slots__ = ("_done", "_failed", "_loop", "_remaining")

    def __init__(
        self, count: int, loop: asyncio.AbstractEventLoop, done: asyncio.Future[None]
    ) -> None:
        self._remaining = count
        self._loop = loop
        self._done = done
        self._failed = False

    def on_delivery(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None and not self._failed:
            self._failed = True
            self._loop.call_soon_threadsafe(
                self._settle, BrokerUnavailable(f"delivery failed: {err.str()}")
            )
            return
        self._remaining -= 1
        if self._remaining == 0 and not self._failed:
            self._loop.call_soon_threadsafe(self._settle, None)

    def abandon(self) -> None:
        """Stop listening: the caller already failed the request, later reports are ignored."""
        self._failed = True
        self._done.cancel()

    def _settle(self, exc: BrokerUnavailable | None) -> None:
        if self._done.done():
            return
        if exc is None:
            self._done.set_result(None)
        else:
            self._done.set_exception(exc)
