"""A blocking sender for records the caller must see acknowledged before it moves on.

The outbox relay deletes rows only after their records were acknowledged, the processor moves
its offsets past dead letters only after they were, and a dead-letter replay reports what the
raw topic took: each sends a round of records, waits, and learns which of them the broker
acknowledged and which it did not (`Sent`), so that it can keep or resend exactly those.

Like `cdp.kafka.producer.AsyncProducer`, a sender replaces a producer that cannot deliver: after
`STUCK_ROUNDS` failed rounds in a row, or at once when `produce` reports a fatal error. An
idempotent producer stays stuck after its broker forgot the producer's id (the embedded broker
does on a restart), however long it is retried; a fresh one delivers at once. Records left in
the replaced producer are purged.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from cdp.kafka.producer import Record, fatal_error, retire

__all__ = ["STUCK_ROUNDS", "BlockingSender", "Failure", "Sent"]

log = logging.getLogger(__name__)

#: Failed rounds in a row before the producer is replaced: one failure is usually the broker
#: being away for a moment, which the same producer rides out.
STUCK_ROUNDS = 2

#: Errors that refuse a record for what it is (its size), so that sending it again as it is
#: can never succeed.
PERMANENT = frozenset({KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE})


@dataclass(frozen=True, slots=True)
class Failure:
    """A record the broker did not acknowledge, why, and whether it never will as it is."""

    record: Record
    reason: str
    permanent: bool = False


@dataclass(frozen=True, slots=True)
class Sent:
    """One round: the records the broker acknowledged and the others, each with why not."""

    acknowledged: list[Record] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every record was acknowledged."""
        return not self.failed

    def first_reason(self) -> str:
        """Why the first failed record failed ("" when none did), for a log line or an error."""
        return self.failed[0].reason if self.failed else ""


class BlockingSender:
    """Sends rounds of records with the producers `make_producer` makes, one at a time."""

    def __init__(
        self,
        make_producer: Callable[[], Producer],
        flush_timeout_s: float,
        stuck_rounds: int = STUCK_ROUNDS,
    ) -> None:
        """`flush_timeout_s` bounds how long one round waits for the broker's answers."""
        self._make_producer = make_producer
        self._flush_timeout_s = flush_timeout_s
        self._stuck_rounds = stuck_rounds
        self._producer = make_producer()
        self._failed_rounds = 0

    def send(self, records: Sequence[Record]) -> Sent:
        """Produce `records` in order and wait (up to the flush timeout) for the broker; never
        raises for a Kafka failure, which `Sent.failed` reports per record instead. A record
        refused for its size is skipped; any other refusal stops the round there. At least
        once: a record that failed here may still be delivered later by a producer that was
        not replaced, so a caller that resends it may publish it twice."""
        reports: list[KafkaError | None] = [None] * len(records)
        answered = [False] * len(records)
        refused: dict[int, Failure] = {}
        stopped = len(records)
        fatal = False
        for index, record in enumerate(records):
            try:
                self._producer.produce(
                    record.topic,
                    record.value,
                    record.key,
                    on_delivery=_reporter(index, reports, answered),
                )
            except (KafkaException, BufferError) as exc:
                why = f"the producer refused the record: {exc}"
                if _code(exc) in PERMANENT:
                    refused[index] = Failure(record, why, permanent=True)
                    continue
                refused[index] = Failure(record, why)
                stopped = index + 1
                fatal = isinstance(exc, KafkaException) and fatal_error(exc)
                break
        self._flush()
        sent = _outcome(records, reports, answered, refused, stopped)
        self._count(sent, fatal)
        return sent

    def _flush(self) -> None:
        with contextlib.suppress(KafkaException):
            self._producer.flush(self._flush_timeout_s)

    def _count(self, sent: Sent, fatal: bool) -> None:
        """Count a failed round; replace the producer after `stuck_rounds` in a row, or now
        when it is in a fatal state. Records refused for their size say nothing about the
        producer: a round with no other failure counts as a good one."""
        if all(f.permanent for f in sent.failed):
            self._failed_rounds = 0
            return
        self._failed_rounds += 1
        if fatal or self._failed_rounds >= self._stuck_rounds:
            log.error(
                "kafka: %d failed rounds in a row (%s); starting a new producer",
                self._failed_rounds,
                sent.first_reason(),
            )
            stale, self._producer = self._producer, self._make_producer()
            self._failed_rounds = 0
            threading.Thread(
                target=retire, args=(stale,), name="kafka-sender-retire", daemon=True
            ).start()

    def close(self, timeout_s: float = 10.0) -> None:
        """Deliver what is still queued, up to `timeout_s` (nothing from a fatal producer)."""
        with contextlib.suppress(KafkaException):
            self._producer.flush(timeout_s)


def _code(exc: Exception) -> int | None:
    error = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
    return error.code() if isinstance(error, KafkaError) else None


def _reporter(
    index: int, reports: list[KafkaError | None], answered: list[bool]
) -> Callable[[KafkaError | None, Message], None]:
    def delivered(err: KafkaError | None, _msg: Message) -> None:
        answered[index] = True
        reports[index] = err

    return delivered


def _outcome(
    records: Sequence[Record],
    reports: list[KafkaError | None],
    answered: list[bool],
    refused: dict[int, Failure],
    stopped: int,
) -> Sent:
    """Split `records` by their delivery reports and refusals; those from `stopped` on were
    never produced."""
    sent = Sent()
    for index, record in enumerate(records):
        report = reports[index]
        if index in refused:
            sent.failed.append(refused[index])
        elif index >= stopped:
            sent.failed.append(Failure(record, "not produced: an earlier record was refused"))
        elif answered[index] and report is None:
            sent.acknowledged.append(record)
        elif answered[index] and report is not None:
            sent.failed.append(Failure(record, str(report), report.code() in PERMANENT))
        else:
            sent.failed.append(Failure(record, "not acknowledged within the flush timeout"))
    return sent
