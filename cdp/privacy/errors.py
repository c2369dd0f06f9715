"""What a data subject request can fail with."""

from __future__ import annotations

from cdp.errors import CdpError

__all__ = [
    "DecryptionFailed",
    "InvalidSubject",
    "InvalidTransition",
    "PiiStateMismatch",
    "PrivacyError",
    "SubjectNotFound",
    "UnknownDataKey",
]


class PrivacyError(CdpError):
    """Root of the privacy package's errors."""


class InvalidSubject(PrivacyError):
    """The reference is not ``type:value`` or its value normalises to no identifier."""


class SubjectNotFound(PrivacyError):
    """No profile holds the identifier (the request may still suppress it)."""


class InvalidTransition(PrivacyError):
    """A request was moved to a status it cannot reach from its current one."""


class UnknownDataKey(PrivacyError):
    """A value is under a data key id the settings do not hold."""


class DecryptionFailed(PrivacyError):
    """A stored value did not decrypt: altered, moved to another row, or not cdp's."""


class PiiStateMismatch(PrivacyError):
    """The database was written with another hash key or encryption mode than the settings'."""
