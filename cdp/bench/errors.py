"""The error a benchmark raises when it cannot produce figures."""

from __future__ import annotations

from cdp.errors import CdpError

__all__ = ["BenchError"]


class BenchError(CdpError):
    """The benchmark could not run to the end: a service did not start or a process failed."""
