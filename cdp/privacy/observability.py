"""Metrics of the privacy package."""

from __future__ import annotations

from prometheus_client import Counter

__all__ = ["REQUESTS", "SUPPRESSED_EVENTS"]

SUPPRESSED_EVENTS = Counter(
    "cdp_privacy_suppressed_events_total",
    "Events dropped by the processor because they carry a suppressed identifier.",
)
REQUESTS = Counter(
    "cdp_privacy_requests_total", "Data subject requests, by kind and outcome.", ["kind", "status"]
)
