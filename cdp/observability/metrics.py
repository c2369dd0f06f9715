"""Metrics shared by every service; each stage keeps its own in its `observability` module."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

__all__ = ["CONSUMER_LAG", "DEAD_LETTERS", "READY"]

READY = Gauge(
    "cdp_ready",
    "1 while the service's last readiness check passed (Kafka and Postgres reachable), else 0.",
    ["service"],
    multiprocess_mode="liveall",
)
CONSUMER_LAG = Gauge(
    "cdp_consumer_lag",
    "Records between a partition's high watermark and the consumer's position.",
    ["group", "topic", "partition"],
    multiprocess_mode="liveall",
)
DEAD_LETTERS = Counter(
    "cdp_dead_letters_total",
    "Records sent to a dead-letter topic, by the stage that refused them and the reason.",
    ["stage", "reason"],
)
