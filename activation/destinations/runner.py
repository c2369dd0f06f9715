"""`cdp activation`: one faust worker process per enabled destination, kept in step with Postgres.

The supervisor re-reads the destinations every `activation_reload_seconds`: it starts a worker for a
new destination, restarts one whose definition changed or that exited, and stops the worker of a
deleted or disabled one. Each worker (`cdp activation-worker NAME`) runs that destination's faust
app (see `agent`), so destinations share nothing but the broker and Postgres.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass

import faust
from prometheus_client import CollectorRegistry, multiprocess, start_http_server
from sqlalchemy.engine import Engine

from cdp.activation.destinations.agent import build_app
from cdp.activation.destinations.config import Destination
from cdp.activation.destinations.errors import DestinationNotFound
from cdp.activation.destinations.store import list_destinations
from cdp.db import create_engine
from cdp.kafka import ensure_topics, platform_topics, wait_for_broker
from cdp.observability import serve_health
from cdp.settings import Settings

__all__ = ["run_activation", "run_worker"]

log = logging.getLogger(__name__)

#: Shorter than `cdp up`'s own grace (10 s), so no worker outlives the supervisor.
STOP_GRACE_S = 8.0


def run_worker(settings: Settings, name: str) -> None:
    """Run the faust worker of destination `name` until SIGTERM/SIGINT."""
    engine = create_engine(settings, pool_size=1)
    try:
        found = {d.name: d for d in list_destinations(engine)}
    finally:
        engine.dispose()
    if name not in found:
        raise DestinationNotFound(f"no destination named {name!r}")
    if settings.activation_metrics_port:
        start_http_server(settings.activation_metrics_port)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    app = build_app(settings, found[name])
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True)
    worker.execute_from_commandline()


@dataclass
class _Child:
    destination: Destination
    process: subprocess.Popen[bytes]
    slot: int
    """Index of the worker's metrics port after `activation_metrics_port`, reused when freed."""


def run_activation(settings: Settings) -> None:
    """Supervise one worker per enabled destination until SIGTERM/SIGINT."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    wait_for_broker(settings)
    ensure_topics(settings, platform_topics(settings))
    engine = create_engine(settings, pool_size=1)
    children: dict[str, _Child] = {}
    metrics_dir = tempfile.mkdtemp(prefix="cdp-activation-metrics-")
    health = serve_health(settings, "activation", _worker_registry(metrics_dir))
    try:
        while not stop.is_set():
            if health is not None:
                health.beat()
            _reconcile(settings, engine, children, metrics_dir)
            stop.wait(settings.activation_reload_seconds)
    finally:
        _stop_all(list(children.values()))
        engine.dispose()
        if health is not None:
            health.stop()
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _worker_registry(metrics_dir: str) -> CollectorRegistry:
    """The workers' metrics summed across processes (prometheus_client's multiprocess mode:
    each worker writes its samples under `metrics_dir`), so one scrape of the supervisor's
    `CDP_METRICS_PORT` covers every destination, however many workers run."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=metrics_dir)  # type: ignore[no-untyped-call]
    return registry


def _reconcile(
    settings: Settings, engine: Engine, children: dict[str, _Child], metrics_dir: str
) -> None:
    wanted = {d.name: d for d in list_destinations(engine) if d.enabled}
    for name in list(children):
        child = children[name]
        if wanted.get(name) != child.destination or child.process.poll() is not None:
            if child.process.poll() is not None:
                log.warning("activation worker %s exited (%s)", name, child.process.returncode)
            _stop_all([children.pop(name)])
            multiprocess.mark_process_dead(child.process.pid, metrics_dir)  # type: ignore[no-untyped-call]
    for name, destination in wanted.items():
        if name not in children:
            used = {c.slot for c in children.values()}
            slot = next(i for i in range(len(used) + 1) if i not in used)
            children[name] = _Child(destination, _start(settings, name, slot, metrics_dir), slot)


def _start(settings: Settings, name: str, slot: int, metrics_dir: str) -> subprocess.Popen[bytes]:
    log.info("starting activation worker %s", name)
    env = dict(os.environ)
    env["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    env["CDP_METRICS_PORT"] = "0"
    env["CDP_KAFKA_BOOTSTRAP_SERVERS"] = settings.kafka_bootstrap_servers or ""
    if settings.database_url is not None:
        env["CDP_DATABASE_URL"] = settings.database_url.get_secret_value()
    env["CDP_KAFKA_EMBEDDED"] = "true" if settings.kafka_embedded else "false"
    env["CDP_TOPICS__MEMBERSHIP"] = settings.topics.membership
    env["CDP_TOPICS__ACTIVATION_DLQ"] = settings.topics.activation_dlq
    env["CDP_ACTIVATION_GROUP_PREFIX"] = settings.activation_group_prefix
    env["CDP_HOME"] = str(settings.home.absolute())
    base = settings.activation_metrics_port
    env["CDP_ACTIVATION_METRICS_PORT"] = str(base + slot if base else 0)
    return subprocess.Popen(
        [sys.executable, "-m", "cdp", "activation-worker", name], env=env, stdin=subprocess.DEVNULL
    )


def _stop_all(stopping: list[_Child]) -> None:
    """SIGTERM every worker, then SIGKILL those still running after `STOP_GRACE_S`.

    A worker finishes its current batch before it commits and exits; one still retrying when killed
    commits nothing for that batch, so its changes are delivered again after a restart.
    """
    for child in stopping:
        if child.process.poll() is None:
            child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for child in stopping:
        try:
            child.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()
