"""`BlockingSender` reports each record's fate and replaces a producer that cannot deliver,
with librdkafka faked."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from cdp.kafka.producer import Record
from cdp.kafka.sender import STUCK_ROUNDS, BlockingSender
from tests.conftest import wait_for

Report = Callable[[KafkaError | None, Any], None]


class FakeProducer:
    """Answers the records produced so far on `flush`: delivered, failed (values in `fail`),
    or not at all (`silent`); `refuse` makes `produce` raise it from that value on."""

    def __init__(self) -> None:
        self.silent = False
        self.fail: set[bytes] = set()
        self.refuse: tuple[bytes, Exception] | None = None
        self.waiting: list[tuple[bytes | None, Report]] = []
        self.delivered: list[bytes | None] = []
        self.purged = False

    def produce(
        self, _topic: str, value: bytes | None, _key: bytes | None, on_delivery: Report
    ) -> None:
        if self.refuse is not None and value == self.refuse[0]:
            raise self.refuse[1]
        self.waiting.append((value, on_delivery))

    def flush(self, _timeout: float) -> int:
        if self.silent:
            return len(self.waiting)
        waiting, self.waiting = self.waiting, []
        for value, report in waiting:
            if value in self.fail:
                report(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE), None)
            else:
                self.delivered.append(value)
                report(None, None)
        return 0

    def purge(self) -> None:
        self.purged = True

    def poll(self, _timeout: float) -> int:
        return 0


class Factory:
    """Makes the sender's producers; `next_silent` sets how the next ones answer."""

    def __init__(self) -> None:
        self.made: list[FakeProducer] = []
        self.next_silent = False

    def __call__(self) -> Any:
        producer = FakeProducer()
        producer.silent = self.next_silent
        self.made.append(producer)
        return producer


@pytest.fixture
def factory() -> Factory:
    return Factory()


def records(*values: bytes) -> list[Record]:
    return [Record("t", v, b"k") for v in values]


def test_acknowledged_records_are_reported_in_order(factory: Factory) -> None:
    sent = BlockingSender(factory, 1.0).send(records(b"a", b"b", b"c"))
    assert sent.ok
    assert [r.value for r in sent.acknowledged] == [b"a", b"b", b"c"]
    assert len(factory.made) == 1


def test_a_failed_record_is_reported_with_its_reason_and_the_others_acknowledged(
    factory: Factory,
) -> None:
    sender = BlockingSender(factory, 1.0)
    factory.made[0].fail = {b"b"}
    sent = sender.send(records(b"a", b"b", b"c"))
    assert [r.value for r in sent.acknowledged] == [b"a", b"c"]
    assert [(f.record.value, "MSG_SIZE_TOO_LARGE" in f.reason) for f in sent.failed] == [
        (b"b", True)
    ]
    assert sent.failed[0].permanent, "too large: sending it again as it is cannot succeed"


def test_records_not_answered_in_time_fail_and_stuck_rounds_start_a_new_producer(
    factory: Factory,
) -> None:
    factory.next_silent = True
    sender = BlockingSender(factory, 1.0)
    factory.next_silent = False
    for _ in range(STUCK_ROUNDS):
        assert len(factory.made) == 1
        sent = sender.send(records(b"a"))
        assert [(f.record.value, f.reason, f.permanent) for f in sent.failed] == [
            (b"a", "not acknowledged within the flush timeout", False)
        ]
    assert len(factory.made) == 2
    wait_for(lambda: factory.made[0].purged, timeout=5, what="the stuck producer to be purged")
    assert sender.send(records(b"b")).ok
    assert factory.made[1].delivered == [b"b"]


def test_a_round_that_delivers_resets_the_count(factory: Factory) -> None:
    sender = BlockingSender(factory, 1.0)
    first = factory.made[0]
    for _ in range(3):
        first.silent = True
        assert not sender.send(records(b"a")).ok
        first.silent = False
        assert sender.send(records(b"b")).ok
    assert len(factory.made) == 1


def test_a_fatal_refusal_replaces_the_producer_at_once(factory: Factory) -> None:
    sender = BlockingSender(factory, 1.0)
    fatal = KafkaException(KafkaError(KafkaError._FATAL, "Unable to produce message"))
    factory.made[0].refuse = (b"b", fatal)
    sent = sender.send(records(b"a", b"b", b"c"))
    assert [r.value for r in sent.acknowledged] == [b"a"]
    assert [(f.record.value, f.permanent) for f in sent.failed] == [(b"b", False), (b"c", False)]
    assert "refused" in sent.failed[0].reason
    assert "not produced" in sent.failed[1].reason
    assert len(factory.made) == 2
    assert sender.send(records(b"b", b"c")).ok


def test_a_full_queue_fails_the_rest_of_the_round_without_a_new_producer(
    factory: Factory,
) -> None:
    sender = BlockingSender(factory, 1.0)
    factory.made[0].refuse = (b"b", BufferError("Local: Queue full"))
    sent = sender.send(records(b"a", b"b"))
    assert [f.record.value for f in sent.failed if "Queue full" in f.reason] == [b"b"]
    assert len(factory.made) == 1


def test_a_record_refused_for_its_size_is_skipped_and_does_not_count_as_stuck(
    factory: Factory,
) -> None:
    sender = BlockingSender(factory, 1.0)
    too_large = KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, "Message size too large"))
    factory.made[0].refuse = (b"b", too_large)
    for _ in range(STUCK_ROUNDS + 1):
        sent = sender.send(records(b"a", b"b", b"c"))
        assert [r.value for r in sent.acknowledged] == [b"a", b"c"]
        assert [(f.record.value, f.permanent) for f in sent.failed] == [(b"b", True)]
    assert len(factory.made) == 1
