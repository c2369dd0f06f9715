"""Activation: the outbox relay today; segments and delivery to channels are to come."""

from cdp.activation.relay import OutboxRelay
from cdp.activation.service import run_relay

__all__ = ["OutboxRelay", "run_relay"]
