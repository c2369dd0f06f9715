"""Ingest: the Segment-compatible HTTP collector that puts events on Kafka."""

from cdp.ingest.app import create_app
from cdp.ingest.service import run_collector, uvicorn_config
from cdp.ingest.sources import Source, create_source, disable_source, list_sources

__all__ = [
    "Source",
    "create_app",
    "create_source",
    "disable_source",
    "list_sources",
    "run_collector",
    "uvicorn_config",
]
