"""Errors of the demo."""

from __future__ import annotations

from cdp.errors import CdpError

__all__ = ["DemoError"]


class DemoError(CdpError):
    """A demo step failed: the collector refused events or the processor did not catch up."""
