"""Running the processor as a process (`cdp processor`): signals, metrics, housekeeping."""

from __future__ import annotations

import gc
import logging
import signal
import sys
import threading
import time

import psycopg

from cdp.db import upgrade
from cdp.kafka import ensure_topics, platform_topics, wait_for_broker
from cdp.observability import serve_health
from cdp.privacy.errors import PiiStateMismatch
from cdp.privacy.keystate import check_pii_state_of
from cdp.profiles.partitions import PartitionKeeper
from cdp.profiles.processor import Processor
from cdp.settings import Settings

__all__ = ["check_pii_state_or_exit", "housekeeping", "run_processor"]

log = logging.getLogger(__name__)

#: Allocations (net of frees) between young-generation collections. Python's default of 700
#: means dozens of collections per batch of thousands of events, each also ageing the batch's
#: live objects towards the full collections that walk the whole heap. A 5,000-event batch
#: keeps tens of thousands of objects alive until it ends, so at 50,000 batches were collected
#: mid-way (about 10 ms each), finding next to nothing: 1.1 s of 17.3 CPU-s
#: in `cdp bench pipeline --events 200000 --latency-seconds 0`, measured with `gc.callbacks`,
#: and 0.16 s at 500,000, which a batch's live objects do not reach. The objects a batch makes
#: are freed by reference counting when it ends, so the heap does not grow for it, and what
#: cyclic garbage there is (about 1,300 objects in that run) waits at most this many
#: allocations.
GC_YOUNG_THRESHOLD = 500_000
#: How long a thread may hold the GIL while another waits for it. The processor's main thread
#: waits on Postgres about fifteen times per batch while the prepare thread decodes the next
#: batch; each time the answer arrives it needs the GIL back, and at Python's default of 5 ms
#: that wait can add up to a tenth of a batch. 1 ms measured as well or better (8,700 vs
#: 7,300-8,600 events/s in `cdp bench pipeline`, the machine being noisy).
SWITCH_INTERVAL_S = 0.001

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
    check_pii_state_or_exit(settings)
    health = serve_health(settings, "processor")
    last_housekeeping = 0.0

    def should_stop() -> bool:
        nonlocal last_housekeeping
        if health is not None:
            health.beat()
        if time.monotonic() - last_housekeeping > HOUSEKEEPING_INTERVAL_S:
            housekeeping(settings)
            last_housekeeping = time.monotonic()
        return stop.is_set()

    processor = Processor(settings)
    _tune_interpreter()
    processor.run(should_stop)


def check_pii_state_or_exit(settings: Settings) -> None:
    """`check_pii_state`: a mismatch is terminal (every lookup would miss), so it is logged
    and raised for the command to exit non-zero with its message."""
    try:
        check_pii_state_of(settings)
    except PiiStateMismatch as exc:
        log.error("processor: terminal: %s", exc)
        raise


def _tune_interpreter() -> None:
    """Fewer garbage collections on the hot path: everything alive after start-up (modules,
    settings, clients) is frozen out of collections, and young collections are rarer. And a
    shorter GIL switch interval, see `SWITCH_INTERVAL_S`."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
