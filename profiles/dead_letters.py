"""Publishing the processor's dead letters: every one is on the dead-letter topic before the
processor moves its offsets past it, and none blocks its partition for good.

Letters the broker did not acknowledge are sent again, with the backoff of the batch retries,
as long as it takes (the partition waits, as it does while Postgres is away). A letter refused
for its size (its payload is the whole refused record) could never be sent as it is: it is sent
once more with its payload cut, and its message says so; one still refused is logged and
counted as lost, so that the partition moves on.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from cdp.deadletter import DeadLetter, encode_dead_letter
from cdp.kafka.producer import Record
from cdp.kafka.sender import Sent
from cdp.profiles.observability import DEAD_LETTERS_LOST
from cdp.schemas import Codec

__all__ = ["PAYLOAD_CUT_BYTES", "publish_dead_letters"]

log = logging.getLogger(__name__)

#: The payload a letter keeps when the topic refused it whole: the start of the record, enough
#: to recognise it (the collector refuses events over 32 KiB), far below any broker's limit.
PAYLOAD_CUT_BYTES = 64 * 1024

#: Backoff between rounds while letters are not acknowledged, as the batch retries.
RESEND_FIRST_S = 0.1
RESEND_CAP_S = 5.0

Pending = list[tuple[DeadLetter, Record]]


class Sender(Protocol):
    """What publishing needs of `cdp.kafka.sender.BlockingSender`."""

    def send(self, records: Sequence[Record]) -> Sent: ...


def publish_dead_letters(
    sender: Sender,
    codec: Codec,
    topic: str,
    letters: Sequence[DeadLetter],
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Return once every letter of `letters` was acknowledged on `topic`, cut, or lost (see
    the module)."""
    pending: Pending = [(letter, _record(codec, topic, letter)) for letter in letters]
    delay = RESEND_FIRST_S
    while pending:
        sent = sender.send([record for _, record in pending])
        pending, waiting = _next_round(codec, topic, pending, sent)
        if waiting:
            log.warning(
                "%d dead letters not acknowledged (%s); sending them again in %.1fs",
                len(pending),
                sent.first_reason(),
                delay,
            )
            sleep(delay)
            delay = min(delay * 2, RESEND_CAP_S)


def _next_round(codec: Codec, topic: str, pending: Pending, sent: Sent) -> tuple[Pending, bool]:
    """The letters to send again, and whether any of them must wait (not a cut one)."""
    letters = {id(record): letter for letter, record in pending}
    again: Pending = []
    waiting = False
    for failure in sent.failed:
        letter = letters[id(failure.record)]
        if not failure.permanent:
            again.append((letter, failure.record))
            waiting = True
        elif len(letter.payload) > PAYLOAD_CUT_BYTES:
            cut = _cut(letter)
            again.append((cut, _record(codec, topic, cut, count=False)))
        else:
            DEAD_LETTERS_LOST.inc()
            log.error(
                "dead letter lost: the topic refused it even with its payload cut (%s)",
                failure.reason,
                extra={"message_id": letter.message_id, "origin": letter.origin},
            )
    return again, waiting


def _cut(letter: DeadLetter) -> DeadLetter:
    size = len(letter.payload)
    return dataclasses.replace(
        letter,
        payload=letter.payload[:PAYLOAD_CUT_BYTES],
        message=f"{letter.message} [payload cut from {size:,} to {PAYLOAD_CUT_BYTES:,} bytes:"
        " the whole letter was too large for the dead-letter topic]",
    )


def _record(codec: Codec, topic: str, letter: DeadLetter, count: bool = True) -> Record:
    return Record(topic, encode_dead_letter(codec, letter, count=count))
