"""Dead-letter records, shared by every stage that refuses a record."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from cdp.observability.metrics import DEAD_LETTERS
from cdp.schemas import DEAD_LETTER, Codec

__all__ = ["DeadLetter", "encode_dead_letter"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A refused record: which stage, why (a stable code and a sentence), and the original bytes."""

    stage: str
    reason: str
    message: str
    payload: bytes
    source_id: str | None = None
    message_id: str | None = None
    origin: str | None = None


def encode_dead_letter(
    codec: Codec, letter: DeadLetter, failed_at_ms: int | None = None, count: bool = True
) -> bytes:
    """The dead-letter record for `letter`, counted in `cdp_dead_letters_total` by stage and
    reason (every stage encodes its dead letters here, so the count covers all of them) and
    logged; `count` False for a letter encoded again (cut to fit its topic), already counted."""
    if count:
        DEAD_LETTERS.labels(letter.stage, letter.reason).inc()
        log.info(
            "dead letter (%s): %s",
            letter.reason,
            letter.message,
            extra={"stage": letter.stage, "message_id": letter.message_id},
        )
    return codec.encode(
        DEAD_LETTER,
        {
            "stage": letter.stage,
            "reason": letter.reason,
            "message": letter.message,
            "payload": letter.payload,
            "source_id": letter.source_id,
            "message_id": letter.message_id,
            "failed_at": failed_at_ms if failed_at_ms is not None else int(time.time() * 1000),
            "origin": letter.origin,
        },
    )
