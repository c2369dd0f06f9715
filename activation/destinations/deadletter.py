"""Aborted changes onto `cdp.activation.dlq`, as `cdp.DeadLetter` records (stage `activation`)."""

from __future__ import annotations

import asyncio
import logging

from cdp.activation.destinations.errors import STAGE, DeliveryFailed
from cdp.activation.destinations.payload import Change
from cdp.deadletter import DeadLetter, encode_dead_letter
from cdp.kafka import AsyncProducer, BrokerUnavailable, Record
from cdp.schemas import Codec
from cdp.settings import Settings

__all__ = ["DeadLetterWriter"]

log = logging.getLogger(__name__)

#: Pause between tries while the broker refuses a dead letter; the batch waits, nothing is lost.
RETRY_PAUSE_S = 1.0


class DeadLetterWriter:
    """Writes dead letters of one destination (its name in `origin`); waits for the broker's ack."""

    def __init__(
        self, settings: Settings, codec: Codec, producer: AsyncProducer, destination: str
    ) -> None:
        self._topic = settings.topics.activation_dlq
        self._codec = codec
        self._producer = producer
        self._destination = destination

    async def write(self, change: Change, body: bytes, failure: DeliveryFailed) -> None:
        letter = DeadLetter(
            stage=STAGE,
            reason=failure.reason,
            message=failure.message,
            payload=body,
            message_id=change.change_id,
            origin=self._destination,
        )
        await self._put(letter, str(change.profile_id).encode())

    async def write_raw(self, value: bytes, reason: str, message: str) -> None:
        letter = DeadLetter(STAGE, reason, message, value, origin=self._destination)
        await self._put(letter, None)

    async def _put(self, letter: DeadLetter, key: bytes | None) -> None:
        value = encode_dead_letter(self._codec, letter)
        while True:
            try:
                await self._producer.send([Record(self._topic, value, key)])
                return
            except BrokerUnavailable as exc:
                log.warning("activation dead letter not written yet: %s", exc)
                await asyncio.sleep(RETRY_PAUSE_S)
