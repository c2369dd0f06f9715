"""Running the collector as a process (`cdp collector`)."""

from __future__ import annotations

import uvicorn

from cdp.ingest.app import create_app
from cdp.kafka import ensure_topics, platform_topics, wait_for_broker
from cdp.settings import Settings

__all__ = ["run_collector", "uvicorn_config"]


def uvicorn_config(settings: Settings, port: int | None = None) -> uvicorn.Config:
    """uvloop + httptools, no access log: the collector's hot path is the request, not the log."""
    return uvicorn.Config(
        create_app(settings),
        host=settings.collector_host,
        port=settings.collector_port if port is None else port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level=settings.log_level.lower(),
        lifespan="on",
        timeout_graceful_shutdown=10,
    )


def run_collector(settings: Settings) -> None:
    """Serve until SIGINT/SIGTERM; the topics are created first if they are missing."""
    wait_for_broker(settings)
    ensure_topics(settings, platform_topics(settings))
    uvicorn.Server(uvicorn_config(settings)).run()
