"""What a data key rotation can fail with."""

from __future__ import annotations

from cdp.privacy.errors import PrivacyError

__all__ = ["RotationError", "RotationFailed", "RotationRefused"]


class RotationError(PrivacyError):
    """Root of the rotation's errors."""


class RotationRefused(RotationError):
    """A rotation was not queued: one is already queued or running, or there is nothing to do."""


class RotationFailed(RotationError):
    """A rotation stopped for good (a missing data key, a value that does not decrypt, values
    under the old key that keep appearing); its row says why, and a new request starts over."""
