"""A speed probe: how much CPU a fixed piece of pure-Python work takes on this machine now.

The machine the figures come from is a virtual one whose CPU is shared with other tenants: the
same code ran at 9,500 and at 5,600 events/s an hour apart, and its CPU-s per 1,000 events
doubled with it (a slower CPU costs more CPU-seconds for the same work). A probe taken just
before and just after each timed run tells a reader whether the machine was itself during it,
and whether two runs that are compared ran on the same machine.
"""

from __future__ import annotations

import time

__all__ = ["speed_probe"]

#: Iterations of the probe's loop: about 0.15 CPU-s on this machine when quiet, long enough to
#: average out a scheduler tick, short next to a timed run.
PROBE_ITERATIONS = 2_500_000


def speed_probe(iterations: int = PROBE_ITERATIONS) -> float:
    """CPU-seconds of this process for a fixed loop of integer arithmetic (lower is faster)."""
    started = time.process_time()
    total = 0
    for i in range(iterations):
        total += i * i
    return time.process_time() - started
