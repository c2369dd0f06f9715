"""Errors of the operations views."""

from __future__ import annotations

from cdp.errors import CdpError

__all__ = ["NoSuchLetter", "OpsError", "ReplayRefused"]


class OpsError(CdpError):
    """Kafka or Postgres could not be read for an operations view."""


class ReplayRefused(CdpError):
    """A dead letter cannot be replayed (it is still invalid, or its stage is not replayable)."""


class NoSuchLetter(CdpError):
    """The dead-letter topic holds no record at the partition and offset asked for."""
