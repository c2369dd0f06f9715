"""Errors of destinations and delivery."""

from __future__ import annotations

from cdp.errors import CdpError, RetryableError, TerminalError

__all__ = ["DeliveryFailed", "DeliveryRetryable", "DestinationConfigError", "DestinationNotFound"]

STAGE = "activation"


class DestinationConfigError(CdpError):
    """A destination definition (or a file of them) is invalid; the text names every problem."""


class DestinationNotFound(CdpError):
    """No destination has that name."""


class DeliveryRetryable(RetryableError):
    """One attempt failed in a way worth retrying (5xx, 408, 429, timeout, connection error).

    `retry_after_s` is the wait the receiver asked for (`Retry-After`), if it asked.
    """

    def __init__(self, reason: str, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.retry_after_s = retry_after_s


class DeliveryFailed(TerminalError):
    """A change will not be delivered: a terminal answer, or retries ran out (attempts or age)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(STAGE, reason, message)
