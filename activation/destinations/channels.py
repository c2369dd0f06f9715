"""Picking the sender of a destination's channel."""

from __future__ import annotations

from cdp.activation.destinations.config import Destination, KafkaChannel, WebhookChannel
from cdp.activation.destinations.delivery import Send
from cdp.activation.destinations.http_client import WebhookClient
from cdp.activation.destinations.kafka_channel import KafkaSender
from cdp.activation.destinations.payload import Change
from cdp.activation.destinations.webhook import WebhookSender
from cdp.kafka import AsyncProducer

__all__ = ["KAFKA_CONCURRENCY", "open_channel"]

#: Profiles in flight at once on the Kafka channel: enough to fill the producer's batches.
KAFKA_CONCURRENCY = 64


def open_channel(
    destination: Destination, client: WebhookClient, producer: AsyncProducer
) -> tuple[Send, int]:
    """The send function of the destination's channel and how many profiles may be in flight."""
    channel = destination.channel
    if isinstance(channel, WebhookChannel):
        webhook = WebhookSender(channel, client)

        async def send_webhook(_change: Change, body: bytes) -> None:
            await webhook.send(body)

        return send_webhook, channel.concurrency
    assert isinstance(channel, KafkaChannel)
    kafka = KafkaSender(channel, producer)

    async def send_kafka(change: Change, body: bytes) -> None:
        await kafka.send(body, str(change.profile_id).encode())

    return send_kafka, KAFKA_CONCURRENCY
