"""Where the processors' batch time went (`cdp_processor_step_seconds`) and how many events
they deferred (`cdp_processor_deferred_events_total`, one per deferral), read once from their
`/metrics` at the end of a throughput run."""

from __future__ import annotations

from collections.abc import Iterable

import httpx
from prometheus_client.parser import text_string_to_metric_families

from cdp.profiles.observability import DEFERRED_METRIC, STEP_METRIC

__all__ = ["counter_total", "read_metrics", "step_means"]


def step_means(expositions: Iterable[str]) -> dict[str, float]:
    """Mean milliseconds per batch of each step, over every batch of every processor whose
    Prometheus text exposition is in `expositions`; steps no batch went through are left out."""
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for text in expositions:
        for family in text_string_to_metric_families(text):
            if family.name != STEP_METRIC:
                continue
            for sample in family.samples:
                step = sample.labels.get("step", "")
                if sample.name == f"{STEP_METRIC}_sum":
                    sums[step] = sums.get(step, 0.0) + sample.value
                elif sample.name == f"{STEP_METRIC}_count":
                    counts[step] = counts.get(step, 0.0) + sample.value
    return {step: 1000 * sums.get(step, 0.0) / n for step, n in counts.items() if n > 0}


def counter_total(expositions: Iterable[str], name: str) -> float:
    """The counter `name` (without its `_total` suffix) summed over every exposition and
    label."""
    total = 0.0
    for text in expositions:
        for family in text_string_to_metric_families(text):
            if family.name == name:
                total += sum(s.value for s in family.samples if s.name == f"{name}_total")
    return total


def read_metrics(ports: Iterable[int]) -> tuple[dict[str, float], int]:
    """`step_means` and the deferrals of the processors serving metrics on `ports`
    (those that do not answer are left out)."""
    texts = []
    with httpx.Client(timeout=5.0) as client:
        for port in ports:
            try:
                response = client.get(f"http://127.0.0.1:{port}/metrics")
            except httpx.HTTPError:
                continue
            if response.status_code == 200:
                texts.append(response.text)
    return step_means(texts), int(counter_total(texts, DEFERRED_METRIC))
