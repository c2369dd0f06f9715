"""Puts a request's accepted events on the raw topic and its rejected items on the dead-letter topic."""

from __future__ import annotations

import time

from cdp.deadletter import DeadLetter, encode_dead_letter
from cdp.ingest.observability import PRODUCE_SECONDS
from cdp.ingest.validate import Accepted, Rejected
from cdp.kafka import AsyncProducer, Record
from cdp.schemas import EVENT, Codec
from cdp.settings import Topics

__all__ = ["STAGE", "Publisher"]

STAGE = "collector"


class Publisher:
    """Encodes envelopes and dead letters and waits until the broker acknowledged them all."""

    def __init__(self, producer: AsyncProducer, codec: Codec, topics: Topics) -> None:
        self._producer = producer
        self._codec = codec
        self._topics = topics

    def records(
        self,
        oks: list[Accepted],
        errs: list[Rejected],
        source_id: str | None,
        origin: str | None = None,
    ) -> list[Record]:
        raw = self._topics.raw
        out = [Record(raw, self._codec.encode(EVENT, ok.envelope), ok.key) for ok in oks]
        now = int(time.time() * 1000)
        for err in errs:
            letter = DeadLetter(
                STAGE, err.reason, err.message, err.payload, source_id, err.message_id, origin
            )
            out.append(Record(self._topics.dlq, encode_dead_letter(self._codec, letter, now)))
        return out

    async def publish(
        self,
        oks: list[Accepted],
        errs: list[Rejected],
        source_id: str | None,
        origin: str | None = None,
    ) -> None:
        """Returns once every record is acknowledged; raises `BrokerUnavailable` otherwise.

        `origin` (the endpoint, e.g. ``/v1/track``) goes with each dead letter, so that a message
        whose type came from the path can be replayed.
        """
        records = self.records(oks, errs, source_id, origin)
        started = time.perf_counter()
        await self._producer.send(records)
        PRODUCE_SECONDS.observe(time.perf_counter() - started)
