"""Raw-topic messages → events to fold, and dead letters for what cannot be read (oks, errs)."""

from __future__ import annotations

from typing import Any

import orjson

from cdp.deadletter import DeadLetter
from cdp.profiles.events import InEvent, to_in_event
from cdp.schemas import EVENT, Codec, DecodeError

__all__ = ["STAGE", "decode_batch"]

STAGE = "processor"


def decode_batch(codec: Codec, messages: list[Any]) -> tuple[list[InEvent], list[DeadLetter]]:
    """Decode each message; one that is not a readable `cdp.Event` becomes a dead letter."""
    oks: list[InEvent] = []
    errs: list[DeadLetter] = []
    for msg in messages:
        value: bytes = msg.value() or b""
        origin = f"{msg.topic()}/{msg.partition()}/{msg.offset()}"
        try:
            record = codec.decode(EVENT, value)
        except DecodeError as exc:
            errs.append(DeadLetter(STAGE, "undecodable", str(exc), value, origin=origin))
            continue
        try:
            oks.append(to_in_event(record, msg.partition(), msg.offset(), value))
        except (KeyError, ValueError, TypeError, orjson.JSONDecodeError) as exc:
            errs.append(
                DeadLetter(
                    STAGE,
                    "malformed_event",
                    f"{type(exc).__name__}: {exc}",
                    value,
                    record.get("source_id"),
                    record.get("message_id"),
                    origin,
                )
            )
    return oks, errs
