"""Throughput runs measured more than once (`cdp bench pipeline --repeat N`).

One run per side of a comparison differs from the next run of the same side by several per
cent on this 2-core machine (11,100 and 11,694 events/s for two runs of the same code), as
much as some of the goals allow. Repeated runs alternate between the sides, so a drift of the
machine touches both alike, and each side is reported by its median run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from cdp.bench.pipeline_report import ThroughputResult

__all__ = ["median_run"]


def median_run(runs: Sequence[ThroughputResult]) -> ThroughputResult:
    """The run with the median events/s (the lower middle one of an even number), carrying the
    events/s of every run in `runs` order; a single run as it is."""
    if not runs:
        raise ValueError("no runs")
    if len(runs) == 1:
        return runs[0]
    middle = sorted(runs, key=lambda r: r.events_per_s)[(len(runs) - 1) // 2]
    return dataclasses.replace(
        middle,
        runs=tuple(r.events_per_s for r in runs),
        run_probes=tuple(r.probe_s for r in runs if r.probe_s),
    )
