"""Prometheus metrics of the activation stage (outbox relay)."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable

from prometheus_client import Counter

__all__ = ["PUBLISHED", "count_published"]

PUBLISHED = Counter(
    "cdp_relay_published_total",
    "Outbox records published to Kafka, by topic (`cdp.segments.membership`, each"
    " `cdp.segment.<slug>`, `cdp.profiles.changes`).",
    ["topic"],
)


def count_published(topics: Iterable[str]) -> None:
    """Count one published record per item of `topics` (one label lookup per topic, not per record)."""
    for topic, n in Tally(topics).items():
        PUBLISHED.labels(topic).inc(n)
