"""Prometheus metrics of the collector."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

__all__ = [
    "BYTES",
    "EVENTS",
    "PRODUCE_SECONDS",
    "REFUSED",
    "REQUESTS",
    "count_accepted",
    "count_rejected",
]

REQUESTS = Counter(
    "cdp_collector_requests_total", "HTTP requests by endpoint and status.", ["endpoint", "status"]
)
EVENTS = Counter(
    "cdp_collector_events_total",
    "Events by outcome (accepted, rejected) and the reason of a rejection.",
    ["outcome", "reason"],
)
REFUSED = Counter(
    "cdp_collector_refused_requests_total", "Requests refused whole, by error code.", ["code"]
)
BYTES = Counter(
    "cdp_collector_request_bytes_total", "Request body bytes received, as sent (compressed or not)."
)
PRODUCE_SECONDS = Histogram(
    "cdp_collector_produce_seconds",
    "Time from producing a request's records to the broker's acknowledgement of all of them.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def count_accepted(n: int) -> None:
    if n:
        EVENTS.labels("accepted", "").inc(n)


def count_rejected(reason: str, n: int = 1) -> None:
    EVENTS.labels("rejected", reason).inc(n)
