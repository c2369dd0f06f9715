"""Shared helpers for every test layer."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

from cdp.native import stale

T = TypeVar("T")


def pytest_configure(config: pytest.Config) -> None:
    """Refuse to test compiled modules older than their sources: the edit would go untested."""
    old = stale()
    if old:
        raise pytest.UsageError(
            f"compiled modules older than their sources: {', '.join(old)}; "
            "run `make install` (or `python scripts/native.py build`, or `clean` for pure Python)"
        )


def wait_for(
    condition: Callable[[], T | None],
    timeout: float = 20.0,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Poll `condition` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
