"""Metrics of data key rotations."""

from __future__ import annotations

from prometheus_client import Counter

__all__ = ["RESEALED"]

RESEALED = Counter(
    "cdp_pii_values_resealed_total",
    "Stored PII values moved to the active data key (or encrypted, converting a database kept "
    "in clear), by table.",
    ["table"],
)
