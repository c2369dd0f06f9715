"""Prometheus metrics of the profile processor."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

__all__ = [
    "BATCH_SECONDS",
    "BATCH_SIZE",
    "DEAD_LETTERS",
    "DEAD_LETTERS_LOST",
    "EVENTS",
    "MERGES",
    "PROFILES_CREATED",
    "RETRIES",
    "SEAL_FALLBACKS",
]

EVENTS = Counter("cdp_processor_events_total", "Events consumed, by outcome.", ["outcome"])
DEAD_LETTERS = Counter(
    "cdp_processor_dead_letters_total",
    "Events dead-lettered by the processor, by reason.",
    ["reason"],
)
DEAD_LETTERS_LOST = Counter(
    "cdp_processor_dead_letters_lost_total",
    "Dead letters the topic refused even with their payload cut; logged, then skipped.",
)
MERGES = Counter("cdp_processor_merges_total", "Profile merges.")
PROFILES_CREATED = Counter("cdp_processor_profiles_created_total", "Profiles created.")
RETRIES = Counter(
    "cdp_processor_retries_total", "Batches retried after a transient Postgres error."
)
SEAL_FALLBACKS = Counter(
    "cdp_processor_seal_fallbacks_total",
    "Batches whose timeline the processor sealed itself because its sealing process failed.",
)
BATCH_SIZE = Histogram(
    "cdp_processor_batch_size",
    "Records per micro-batch.",
    buckets=(1, 10, 50, 100, 500, 1000, 2500, 5000, 10000),
)
BATCH_SECONDS = Histogram(
    "cdp_processor_batch_seconds",
    "Time to apply one micro-batch (one Postgres transaction).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
