"""Errors of the Kafka plumbing."""

from __future__ import annotations

from cdp.errors import CdpError, RetryableError

__all__ = ["BrokerUnavailable", "KafkaSetupError"]


class BrokerUnavailable(RetryableError):
    """The broker did not take the records (unreachable, queue full or delivery timed out)."""


class KafkaSetupError(CdpError):
    """Topics could not be created or inspected."""
