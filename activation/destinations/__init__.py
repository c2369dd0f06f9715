"""Destinations: delivery of segment membership changes to webhooks and Kafka topics."""

from cdp.activation.destinations.config import (
    Destination,
    KafkaChannel,
    RetryPolicy,
    WebhookChannel,
    load_destinations,
    parse_destinations,
)
from cdp.activation.destinations.errors import DestinationConfigError, DestinationNotFound
from cdp.activation.destinations.store import (
    apply_destinations,
    delete_destination,
    list_destinations,
    read_status,
)

__all__ = [
    "Destination",
    "DestinationConfigError",
    "DestinationNotFound",
    "KafkaChannel",
    "RetryPolicy",
    "WebhookChannel",
    "apply_destinations",
    "delete_destination",
    "list_destinations",
    "load_destinations",
    "parse_destinations",
    "read_status",
]
