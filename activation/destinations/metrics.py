"""Prometheus counters of delivery, labelled by destination and outcome."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

__all__ = ["ATTEMPTS", "DELIVERIES", "RETRYING"]

DELIVERIES = Counter(
    "cdp_activation_deliveries_total",
    "Membership changes finished per destination: delivered, aborted (dead-lettered) or "
    "suppressed (consent missing, or an exit for a profile the destination never got).",
    ["destination", "outcome"],
)
ATTEMPTS = Counter(
    "cdp_activation_attempts_total",
    "Delivery attempts per destination and result (ok, retryable, terminal).",
    ["destination", "result"],
)
RETRYING = Gauge(
    "cdp_activation_retrying",
    "Changes waiting for a retry, per destination.",
    ["destination"],
    multiprocess_mode="livesum",
)
