"""Percentiles of latencies and CPU shares of processes over a measured window."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import psutil

__all__ = ["CpuSample", "cpu_shares", "percentile", "sample_cpu"]

#: Machine-wide CPU time that some process or interrupt used; idle, iowait and steal are not,
#: and guest time is already counted in user time.
BUSY_FIELDS = ("user", "nice", "system", "irq", "softirq")


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank `q`th percentile (0 < q <= 100) of `values`, or None when there are none.

    Nearest rank returns a value that was observed, never an interpolation between two.
    """
    if not 0 < q <= 100:
        raise ValueError(f"q must be in (0, 100], got {q}")
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


@dataclass(frozen=True, slots=True)
class CpuSample:
    """CPU seconds (user + system) used so far by each named process and by the whole machine."""

    wall: float
    processes: dict[str, float]
    machine_busy: float


def sample_cpu(processes: Mapping[str, psutil.Process]) -> CpuSample:
    """CPU seconds now; a process that has exited is left out."""
    used: dict[str, float] = {}
    for name, process in processes.items():
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        used[name] = times.user + times.system
    machine = psutil.cpu_times()
    busy = sum(getattr(machine, field, 0.0) for field in BUSY_FIELDS)
    return CpuSample(time.monotonic(), used, busy)


def cpu_shares(before: CpuSample, after: CpuSample) -> dict[str, float]:
    """CPU used between two samples per wall second (1.0 = one full core).

    `machine` is the whole machine and `others` what is not one of the named processes: work
    unrelated to the benchmark shows up there and makes a run's figures suspect.
    """
    wall = after.wall - before.wall
    if wall <= 0:
        raise ValueError("the samples are not in order")
    shares = {
        name: (after.processes[name] - used) / wall
        for name, used in before.processes.items()
        if name in after.processes
    }
    machine = (after.machine_busy - before.machine_busy) / wall
    shares["others"] = max(0.0, machine - sum(shares.values()))
    shares["machine"] = machine
    return shares
