"""Trait names as PII settings compare them: ``first_name``, ``firstName`` and ``First-Name``
are one name."""

from __future__ import annotations

__all__ = ["normal_name"]


def normal_name(name: str) -> str:
    """`name` lower-cased, without underscores, hyphens or spaces."""
    return name.lower().replace("_", "").replace("-", "").replace(" ", "")
