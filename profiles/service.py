"""Running the processor as a process (`cdp processor`): signals, metrics, housekeeping."""

from __future__ import annotations

import logging
import signal
import threading
import time

import psycopg
from prometheus_client import start_http_server

from cdp.db import upgrade
from cdp.kafka import ensure_topics, platform_topics, wait_for_broker
from cdp.profiles.partitions import PartitionKeeper
from cdp.profiles.processor import Processor
from cdp.settings import Settings

__all__ = ["housekeeping", "run_processor"]

log = logging.getLogger(__name__)

#: Retention work is cheap (catalog lookups, whole-partition drops); hourly is plenty.
HOUSEKEEPING_INTERVAL_S = 3600.0
DAY_MS = 86_400_000


def housekeeping(settings: Settings, now_ms: int | None = None) -> None:
    """Drop timeline months past retention and forget old processed messageIds."""
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    with psycopg.connect(settings.database_dsn(), autocommit=True) as conn:
        if settings.timeline_retention_days:
            dropped = PartitionKeeper().drop_older_than(
                conn, now_ms - settings.timeline_retention_days * DAY_MS
            )
            if dropped:
                log.info("timeline retention dropped %s", dropped)
        conn.execute(
            "DELETE FROM processed_messages WHERE processed_at < now() - make_interval(days => %s)",
            (settings.dedupe_retention_days,),
        )


def run_processor(settings: Settings) -> None:
    """Serve until SIGINT/SIGTERM, finishing the batch in hand first."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    wait_for_broker(settings)
    ensure_topics(settings, platform_topics(settings))
    upgrade(settings)
    if settings.processor_metrics_port:
        start_http_server(settings.processor_metrics_port)
    last_housekeeping = 0.0

    def should_stop() -> bool:
        nonlocal last_housekeeping
        if time.monotonic() - last_housekeeping > HOUSEKEEPING_INTERVAL_S:
            housekeeping(settings)
            last_housekeeping = time.monotonic()
        return stop.is_set()

    Processor(settings).run(should_stop)
