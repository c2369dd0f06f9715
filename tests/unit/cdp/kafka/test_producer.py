"""`AsyncProducer` replaces a producer that cannot deliver, with librdkafka faked."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from cdp.kafka import producer as module
from cdp.kafka.errors import BrokerUnavailable
from cdp.kafka.producer import STUCK_SENDS, AsyncProducer, Record
from cdp.settings import Settings

Report = Callable[[KafkaError | None, Any], None]


class FakeProducer:
    """Answers each record from the poll thread: every instance made while `stuck` is set times
    every record out (or raises a fatal error from `produce`), the others deliver them. With
    records waiting, `poll` raises `raise_once` first if set; purged records fail."""

    made: list[FakeProducer] = []
    stuck = True
    fatal = False

    def __init__(self, _config: dict[str, Any]) -> None:
        self.broken = FakeProducer.stuck
        self.fatal = FakeProducer.fatal
        self.waiting: list[Report] = []
        self.before_reports: Callable[[], None] = lambda: None
        self.raise_once: Exception | None = None
        self.purged = False
        self.lock = threading.Lock()
        FakeProducer.made.append(self)

    def produce(self, _topic: str, _value: bytes, _key: bytes | None, on_delivery: Report) -> None:
        if self.fatal:
            raise KafkaException(KafkaError(KafkaError._FATAL, "Unable to produce message"))
        with self.lock:
            self.waiting.append(on_delivery)

    def poll(self, _timeout: float) -> int:
        if self.waiting and self.raise_once is not None:
            raised, self.raise_once = self.raise_once, None
            raise raised
        with self.lock:
            waiting, self.waiting = self.waiting, []
        if waiting:
            self.before_reports()
        error = KafkaError(KafkaError._MSG_TIMED_OUT) if self.broken else None
        if self.purged:
            error = KafkaError(KafkaError._PURGE_QUEUE)
        for report in waiting:
            report(error, None)
        threading.Event().wait(0.001)
        return len(waiting)

    def purge(self) -> None:
        self.purged = True

    def flush(self, _timeout: float) -> int:
        return 0

    def __len__(self) -> int:
        return len(self.waiting)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> type[FakeProducer]:
    monkeypatch.setattr(module, "Producer", FakeProducer)
    FakeProducer.made, FakeProducer.stuck, FakeProducer.fatal = [], True, False
    return FakeProducer


@pytest.fixture
def open_producer(fake: type[FakeProducer]) -> Iterator[Callable[[], AsyncProducer]]:
    """Makes `AsyncProducer`s over the fake (which the test sets up first); closes them all."""
    made: list[AsyncProducer] = []

    def make() -> AsyncProducer:
        settings = Settings(
            kafka_bootstrap_servers="127.0.0.1:1", producer_delivery_timeout_ms=1000
        )
        made.append(AsyncProducer(settings))
        return made[-1]

    yield make
    for producer in made:
        producer.close(1)


def send(producer: AsyncProducer) -> str:
    """Send two records; "ok" or the `BrokerUnavailable` message."""
    records = [Record("t", b"a"), Record("t", b"b")]
    try:
        asyncio.run(producer.send(records))
    except BrokerUnavailable as exc:
        return str(exc)
    return "ok"


def test_a_producer_whose_records_keep_timing_out_is_replaced(
    fake: type[FakeProducer], open_producer: Callable[[], AsyncProducer]
) -> None:
    producer = open_producer()
    for _ in range(STUCK_SENDS - 1):
        assert send(producer) == "delivery failed: Local: Message timed out"
    assert len(fake.made) == 1, "one timed-out send must not replace the producer"
    fake.stuck = False
    assert send(producer) == "delivery failed: Local: Message timed out"
    assert len(fake.made) == 2
    assert send(producer) == "ok"


def test_a_delivery_in_between_resets_the_count(
    fake: type[FakeProducer], open_producer: Callable[[], AsyncProducer]
) -> None:
    producer = open_producer()
    for _ in range(3):
        fake.made[-1].broken = True
        for _ in range(STUCK_SENDS - 1):
            send(producer)
        fake.made[-1].broken = False
        assert send(producer) == "ok"
    assert len(fake.made) == 1


def test_timeouts_while_every_broker_is_down_replace_nothing(
    fake: type[FakeProducer], open_producer: Callable[[], AsyncProducer]
) -> None:
    producer = open_producer()

    def brokers_down() -> None:
        producer._available = False

    fake.made[0].before_reports = brokers_down
    for _ in range(STUCK_SENDS + 1):
        assert send(producer) == "delivery failed: Local: Message timed out"
        producer._available = True
    assert len(fake.made) == 1


def test_a_fatal_error_from_produce_is_unavailable_and_replaces_the_producer(
    fake: type[FakeProducer], open_producer: Callable[[], AsyncProducer]
) -> None:
    fake.stuck, fake.fatal = False, True
    producer = open_producer()
    fake.fatal = False
    assert send(producer).startswith("the producer refused the records")
    assert len(fake.made) == 2
    assert send(producer) == "ok"


def test_a_fatal_error_raised_by_poll_replaces_the_producer(
    fake: type[FakeProducer], open_producer: Callable[[], AsyncProducer]
) -> None:
    fake.stuck = False
    producer = open_producer()
    fatal = KafkaError(KafkaError.UNKNOWN_PRODUCER_ID, "unable to retry", fatal=True)
    fake.made[0].raise_once = KafkaException(fatal)
    assert send(producer) == "delivery failed: Local: Purged in queue"
    assert len(fake.made) == 2
    assert send(producer) == "ok"


def test_a_failing_callback_does_not_stop_the_poll_thread(
    fake: type[FakeProducer], open_producer: Callable[[], AsyncProducer]
) -> None:
    fake.stuck = False
    producer = open_producer()
    fake.made[0].raise_once = RuntimeError("a callback failed")
    assert send(producer) == "ok"
    assert send(producer) == "ok"
    assert len(fake.made) == 1
