"""Running the segment scheduler as a process (`cdp scheduler`).

It also runs data key rotations (`cdp keys rotate-data-key`): a slice of at most
`ROTATION_SLICE_S` per loop, so segment windows and backfills keep their pace while a long
rotation goes on, and no other service is needed for it (`cdp up` runs this one).
"""

from __future__ import annotations

import logging
import signal
import threading

import psycopg

from cdp.activation.scheduler import Scheduler
from cdp.kafka import ensure_topics, platform_topics, wait_for_broker
from cdp.observability import serve_health
from cdp.privacy.rotation import RotationRunner
from cdp.schemas import codec_for
from cdp.settings import Settings

__all__ = ["run_scheduler"]

log = logging.getLogger(__name__)

#: Pause between passes when nothing was due: time windows are exact to about this much.
IDLE_S = 0.5
#: Seconds of rotation work per loop: window checks stay exact to about this much more.
ROTATION_SLICE_S = 0.5


def run_scheduler(settings: Settings) -> None:
    """Backfill new segment versions, apply window boundaries, exit deleted segments; until SIGTERM."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    wait_for_broker(settings)
    ensure_topics(settings, platform_topics(settings))
    scheduler = Scheduler(codec_for(settings), settings.topics.membership)
    rotations = RotationRunner(settings)
    health = serve_health(settings, "scheduler")
    conn = psycopg.connect(settings.database_dsn(), autocommit=True)
    try:
        while not stop.is_set():
            if health is not None:
                health.beat()
            try:
                done = scheduler.run_pass(conn)
                rotating = rotations.step(conn, ROTATION_SLICE_S)
            except psycopg.OperationalError as exc:
                log.warning("scheduler: %s", exc)
                conn = (
                    psycopg.connect(settings.database_dsn(), autocommit=True)
                    if conn.broken
                    else conn
                )
                stop.wait(1.0)
                continue
            if not (
                rotating
                or done.backfilled
                or done.window_checks
                or done.deleted_exits
                or done.trait_expiries
            ):
                stop.wait(IDLE_S)
    finally:
        conn.close()
