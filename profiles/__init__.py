"""Profiles: the stream processor that folds events into unified profiles in Postgres, and the read API."""

from cdp.profiles.api import create_api
from cdp.profiles.api_service import run_api
from cdp.profiles.apply import BatchApplier, BatchOutcome
from cdp.profiles.processor import Processor
from cdp.profiles.service import housekeeping, run_processor

__all__ = [
    "BatchApplier",
    "BatchOutcome",
    "Processor",
    "create_api",
    "housekeeping",
    "run_api",
    "run_processor",
]
