"""The root of every error cdp raises, and the split between retryable and terminal failures.

A *retryable* failure (broker unreachable, Postgres restarting) is worth trying again unchanged.
A *terminal* failure will fail the same way every time; the record that caused it is dead-lettered
with the stage and the reason, as rudder-server separates Failed from Aborted.
"""

from __future__ import annotations

__all__ = ["CdpError", "ConfigError", "RetryableError", "TerminalError"]


class CdpError(Exception):
    """Root of all cdp errors."""


class ConfigError(CdpError):
    """The settings are invalid or refer to something that is not there."""


class RetryableError(CdpError):
    """A failure that may succeed if the same work is tried again later."""


class TerminalError(CdpError):
    """A failure that will repeat on every retry; the record goes to a dead-letter topic.

    `stage` names the pipeline stage that refused the record and `reason` is a short,
    stable, machine-readable code (``missing_identity``, ``event_too_large``...).
    """

    def __init__(self, stage: str, reason: str, message: str) -> None:
        super().__init__(f"{stage}: {reason}: {message}")
        self.stage = stage
        self.reason = reason
        self.message = message
