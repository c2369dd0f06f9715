"""The Kafka channel: each change as JSON on a configured topic, keyed by profile id."""

from __future__ import annotations

from cdp.activation.destinations.config import KafkaChannel
from cdp.activation.destinations.errors import DeliveryRetryable
from cdp.kafka import AsyncProducer, BrokerUnavailable, Record

__all__ = ["KafkaSender"]


class KafkaSender:
    def __init__(self, channel: KafkaChannel, producer: AsyncProducer) -> None:
        self._topic = channel.topic
        self._producer = producer

    async def send(self, body: bytes, key: bytes) -> None:
        """Produce and wait for the broker's acknowledgement; `DeliveryRetryable` if it did not."""
        try:
            await self._producer.send([Record(self._topic, body, key)])
        except BrokerUnavailable as exc:
            raise DeliveryRetryable("broker_unavailable", str(exc)) from exc
