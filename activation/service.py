"""Running the outbox relay as a process (`cdp relay`)."""

from __future__ import annotations

import signal
import threading

from cdp.activation.relay import OutboxRelay
from cdp.kafka import ensure_topics, platform_topics, wait_for_broker
from cdp.observability import serve_health
from cdp.settings import Settings

__all__ = ["run_relay"]


def run_relay(settings: Settings) -> None:
    """Serve until SIGINT/SIGTERM."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    wait_for_broker(settings)
    ensure_topics(settings, platform_topics(settings))
    health = serve_health(settings, "relay")

    def should_stop() -> bool:
        if health is not None:
            health.beat()
        return stop.is_set()

    OutboxRelay(settings).run(should_stop)
