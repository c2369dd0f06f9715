"""An asyncio front for confluent-kafka's producer.

`send` returns only after the broker acknowledged every record (acks=all, idempotent producer),
so an HTTP handler can answer `200` knowing the events are durable. A background thread serves
librdkafka's callbacks and hands each delivery report to the event loop.

Availability is tracked so that a request fails fast with `BrokerUnavailable` while every broker is
down, instead of queueing records the SDK will resend anyway (its retry carries the same messageIds).

A producer that cannot deliver while a broker is up is replaced by a fresh one: after a fatal
error (which `poll` raises, and `produce` reports as `_FATAL`), and after `STUCK_SENDS` sends in a
row timed out with a broker up and nothing delivered meanwhile. Both were seen after the embedded
broker restarted, which forgets producer ids: librdkafka answers `UNKNOWN_PRODUCER_ID` either
with a fatal error or by bumping the epoch of the id it holds, which the new broker never
accepts, so every record timed out until the process restarted; a fresh producer asks for a new
id and delivers at once. Records still in the replaced producer are purged, which fails them to
their senders (an SDK retries with the same messageIds).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import orjson
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from cdp.kafka.errors import BrokerUnavailable
from cdp.settings import Settings

__all__ = ["AsyncProducer", "Record", "fatal_error", "retire"]

log = logging.getLogger(__name__)

#: How long the poll thread blocks in librdkafka per call; short enough to stop promptly.
POLL_INTERVAL_S = 0.05

#: librdkafka reports every record by `delivery.timeout.ms`; waiting a little longer than that
#: only matters if a report is lost (a producer replaced after a fatal error), so no request hangs.
AWAIT_MARGIN_S = 2.0

#: Sends in a row that timed out with a broker up, and no record delivered since the first of
#: them, before the producer is replaced. Two, so that one slow moment of a healthy broker costs
#: no reconnect; each takes the delivery timeout, so a stuck collector recovers in about twice it.
STUCK_SENDS = 2


@dataclass(frozen=True, slots=True)
class Record:
    """One record to produce."""

    topic: str
    value: bytes | None
    """None: a tombstone."""
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
        self._timed_out = 0
        """Sends in a row that timed out with a broker up since a record was last delivered."""
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
        pending = _Pending(len(records), loop, done, self._delivered)
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
        except KafkaException as exc:
            pending.abandon()
            if fatal_error(exc):
                self._replace_if_current(producer, f"fatal error: {exc}")
            raise BrokerUnavailable(f"the producer refused the records: {exc}") from exc
        try:
            await asyncio.wait_for(done, self._await_timeout_s)
        except TimeoutError as exc:
            pending.abandon()
            self._send_timed_out(producer)
            raise BrokerUnavailable("no delivery report within the delivery timeout") from exc
        except BrokerUnavailable:
            if pending.timed_out:
                self._send_timed_out(producer)
            raise

    def _delivered(self) -> None:
        self._timed_out = 0

    def _send_timed_out(self, producer: Producer) -> None:
        """Count a send whose records timed out; replace `producer` when it looks stuck."""
        if not self._available:
            return
        self._timed_out += 1
        if self._timed_out >= STUCK_SENDS:
            self._replace_if_current(
                producer, f"{self._timed_out} sends in a row timed out with a broker up"
            )

    def _poll_forever(self) -> None:
        """Serve librdkafka's callbacks until closed. `poll` raises a fatal error (even with an
        `error_cb`), which replaces the producer; no error ends this thread, or no send would
        be answered again (the collector answered 503 until restarted)."""
        while not self._stop.is_set():
            with self._lock:
                producer = self._producer
            try:
                producer.poll(POLL_INTERVAL_S)
            except KafkaException as exc:
                if fatal_error(exc):
                    self._replace_if_current(producer, f"fatal error: {exc}")
                else:
                    log.warning("kafka producer: %s", exc)
            except Exception:
                log.exception("kafka producer: a callback failed")

    def _on_error(self, err: KafkaError) -> None:
        if err.code() == KafkaError._ALL_BROKERS_DOWN:
            self._available = False
        if err.fatal():
            with self._lock:
                producer = self._producer
            self._replace_if_current(producer, f"fatal error: {err}")
        else:
            log.warning("kafka producer: %s", err)

    def _on_stats(self, stats_json: str) -> None:
        stats = orjson.loads(stats_json)
        brokers = stats.get("brokers", {}).values()
        self._available = any(b.get("state") == "UP" and b.get("nodeid", -1) >= 0 for b in brokers)

    def _replace_if_current(self, stale: Producer, reason: str) -> None:
        """Swap in a fresh producer for `stale` unless another failure already replaced it."""
        with self._lock:
            if self._producer is not stale:
                return
            log.error("kafka producer: %s; starting a new producer", reason)
            self._producer = Producer(self._config)
            self._timed_out = 0
        threading.Thread(
            target=retire, args=(stale,), name="kafka-producer-retire", daemon=True
        ).start()

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued (up to `timeout`; nothing if the producer is in a fatal
        state) and stop the poll thread."""
        deadline = time.monotonic() + timeout
        with contextlib.suppress(KafkaException):
            self._producer.flush(timeout)
        self._stop.set()
        self._thread.join(max(0.0, deadline - time.monotonic()) + 1.0)


def retire(stale: Producer) -> None:
    """Fail the records still in a replaced producer to their senders now (purged), rather than
    at the end of their wait. `AsyncProducer` calls it in a thread of its own, because the
    replacement may be decided in one of the producer's own callbacks, and a stuck producer may
    take its time to purge."""
    with contextlib.suppress(KafkaException, RuntimeError):
        stale.purge()
        stale.poll(0)


def fatal_error(exc: KafkaException) -> bool:
    """Whether `produce` refused because the producer is in a fatal state. Its error says so by
    its code (`_FATAL`) without the fatal flag, and librdkafka did not always call `error_cb`
    for the fatal error itself (seen after the embedded broker's restart)."""
    error = exc.args[0] if exc.args else None
    return isinstance(error, KafkaError) and (error.fatal() or error.code() == KafkaError._FATAL)


class _Pending:
    """Counts the delivery reports of one `send` and settles its future on the event loop."""

    __slots__ = ("_delivered", "_done", "_failed", "_loop", "_remaining", "timed_out")

    def __init__(
        self,
        count: int,
        loop: asyncio.AbstractEventLoop,
        done: asyncio.Future[None],
        delivered: Callable[[], None],
    ) -> None:
        self._remaining = count
        self._loop = loop
        self._done = done
        self._delivered = delivered
        self._failed = False
        self.timed_out = False
        """Whether a record of the send failed by timing out in the producer."""

    def on_delivery(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            if err.code() == KafkaError._MSG_TIMED_OUT:
                self.timed_out = True
            if not self._failed:
                self._failed = True
                self._loop.call_soon_threadsafe(
                    self._settle, BrokerUnavailable(f"delivery failed: {err.str()}")
                )
            return
        self._delivered()
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
