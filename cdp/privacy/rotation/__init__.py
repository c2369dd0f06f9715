"""Data key rotation: every stored PII value moved to the active data key in the background,
and a database kept in clear converted to match values and ciphertext."""

from cdp.privacy.rotation.census import census
from cdp.privacy.rotation.errors import RotationFailed, RotationRefused
from cdp.privacy.rotation.requests import Rotation, list_rotations, request_rotation
from cdp.privacy.rotation.runner import RotationRunner

__all__ = [
    "Rotation",
    "RotationFailed",
    "RotationRefused",
    "RotationRunner",
    "census",
    "list_rotations",
    "request_rotation",
]
