"""Prometheus metrics of the profile processor."""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import Counter, Histogram

__all__ = [
    "BATCH_SECONDS",
    "BATCH_SIZE",
    "DEAD_LETTERS",
    "DEAD_LETTERS_LOST",
    "DEFERRED",
    "DEFERRED_METRIC",
    "EVENTS",
    "MERGES",
    "PROFILES_CREATED",
    "RETRIES",
    "SEAL_FALLBACKS",
    "STEPS",
    "STEP_METRIC",
    "STEP_SECONDS",
    "StepClock",
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
DEFERRED_METRIC = "cdp_processor_deferred_events"
DEFERRED = Counter(
    DEFERRED_METRIC,
    "Deferrals of an event to the next batch because another transaction held one of its"
    " locks (`cdp.profiles.contention`); an event may be deferred more than once, and"
    " events_total counts it once applied.",
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
STEP_METRIC = "cdp_processor_step_seconds"
#: The steps of `STEP_SECONDS` in the order a batch goes through them; `prepare` runs in its own
#: thread, alongside the previous batch's.
STEPS = ("load", "fold", "write", "computed_traits", "segments", "commit", "prepare")
STEP_SECONDS = Histogram(
    STEP_METRIC,
    "Time one micro-batch spends in each step: prepare (decoding and identifier extraction,"
    " in a worker thread while the previous batch is applied), load (offsets, dedupe, identity"
    " locks, state), fold, write (profiles, identifiers, timeline, groups, profile changes),"
    " computed_traits, segments, commit.",
    ["step"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


class StepClock:
    """Splits the wall time of one batch into consecutive steps of `STEP_SECONDS`: each `lap`
    records the time since the previous one (or since the clock was made)."""

    def __init__(self, now: Callable[[], float] = time.perf_counter) -> None:
        self._now = now
        self._last = now()

    def lap(self, step: str) -> None:
        now = self._now()
        STEP_SECONDS.labels(step).observe(now - self._last)
        self._last = now
