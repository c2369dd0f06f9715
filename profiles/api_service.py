"""Running the profile API as a process (`cdp api`)."""

from __future__ import annotations

import uvicorn

from cdp.db import create_engine
from cdp.errors import CdpError
from cdp.profiles.api import create_api
from cdp.profiles.pii_state import PiiStateGate
from cdp.settings import Settings

__all__ = ["api_uvicorn_config", "run_api"]


def api_uvicorn_config(settings: Settings, port: int | None = None) -> uvicorn.Config:
    """uvloop + httptools, no access log, on `api_host`:`api_port` (or `port`)."""
    return uvicorn.Config(
        create_api(settings),
        host=settings.api_host,
        port=settings.api_port if port is None else port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level=settings.log_level.lower(),
        lifespan="on",
        timeout_graceful_shutdown=10,
    )


def run_api(settings: Settings) -> None:
    """Serve until SIGINT/SIGTERM; the database must already be migrated (`cdp migrate`, `cdp up`).

    A database whose PII was written another way (`PiiStateMismatch`) stops it before it serves,
    with that error; so does any other failure of the app's start, as a `CdpError`.
    """
    engine = create_engine(settings, pool_size=1)
    try:
        PiiStateGate(settings).check_at_start(engine)
    finally:
        engine.dispose()
    server = uvicorn.Server(api_uvicorn_config(settings))
    server.run()
    if not server.started:
        raise CdpError("the profile API did not start; see the log above")
