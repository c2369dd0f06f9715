"""Metrics of the privacy package."""

from __future__ import annotations

from prometheus_client import Counter

__all__ = ["REQUESTS", "SUPPRESSED_EVENTS", "UNOPENED_VALUES"]

SUPPRESSED_EVENTS = Counter(
    "cdp_privacy_suppressed_events_total",
    "Events dropped by the processor because they carry a suppressed identifier.",
)
REQUESTS = Counter(
    "cdp_privacy_requests_total", "Data subject requests, by kind and outcome.", ["kind", "status"]
)
UNOPENED_VALUES = Counter(
    "cdp_privacy_unopened_values_total",
    "Stored strings that looked sealed but were read as they are, by reason: under a data key "
    "no longer configured (unknown_key), or not a value cdp sealed (not_ours).",
    ["reason"],
)
