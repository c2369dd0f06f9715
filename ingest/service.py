"""Running the collector as a process (`cdp collector`), as one or several worker processes.

One Python process is bound to one core: the collector's request path is CPU work under the GIL.
With `collector_workers` > 1, `cdp collector` becomes a supervisor of that many worker processes,
each with its own listening socket on the same host and port (SO_REUSEPORT), so that the kernel
spreads incoming connections over them. A single socket shared by forked workers (what
`uvicorn --workers` does) does not spread keep-alive clients: the worker that wakes first accepts
every pending connection, and SDKs and load balancers keep their connections for a long time.

The default is one process: `cdp up` and a container then run exactly one collector process,
and deployments scale by adding instances, as every other stage does. One worker took 28,000 to
44,000 events/s in `cdp bench ingest` on the 2-core development machine, which it shares with the
broker and the load generator; a second added from 10% to half as much again, depending on what
else ran there. Several workers pay off where a collector has cores to itself.

With several workers, /metrics adds up the counters of all of them (prometheus_client
multiprocess mode); process metrics (`process_*`, `python_*`) are then left out.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from pydantic import SecretStr

from cdp.errors import CdpError
from cdp.ingest.app import MULTIPROC_ENV, create_app
from cdp.kafka import ensure_topics, platform_topics, wait_for_broker
from cdp.logs import configure_logging
from cdp.settings import Settings

__all__ = [
    "listening_socket",
    "read_worker_payload",
    "run_collector",
    "serve_worker",
    "serve_workers",
    "tune_gc",
    "uvicorn_config",
    "worker_payload",
]

log = logging.getLogger(__name__)

#: uvicorn's graceful shutdown (10 s) plus the producer's flush of what is still queued; a worker
#: still running after that is killed.
STOP_GRACE_S = 25.0
#: How often the supervisor looks at its workers and for a stop signal.
SUPERVISE_POLL_S = 0.2
#: How often a worker checks that its supervisor is still alive; it stops itself once orphaned.
ORPHAN_CHECK_S = 1.0
#: Young objects allowed before a generation-0 collection (Python's default is 700). A 100-event
#: batch keeps about 1,000 containers alive while it is handled, so with the default the
#: collector ran a collection in nearly every request, traversing objects that were all still in
#: use (~2 µs per event, 7% of the request path, measured); at 10,000 a stream of such batches
#: triggers none, as reference counting frees almost everything else.
GC_GEN0_THRESHOLD = 10_000
#: Exit status of a worker whose server never started (the port was taken, the app failed).
STARTUP_FAILED = 3
WORKER_CODE = "from cdp.ingest.service import serve_worker; serve_worker()"


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
    """Serve until SIGINT/SIGTERM; the topics are created first if they are missing.

    With several workers, raises `CdpError` when a worker exits on its own (after stopping the
    others), so that whatever supervises `cdp collector` sees it fail.
    """
    wait_for_broker(settings)
    ensure_topics(settings, platform_topics(settings))
    if settings.collector_workers == 1:
        tune_gc()
        uvicorn.Server(uvicorn_config(settings)).run()
        return
    serve_workers(settings)


def serve_workers(settings: Settings) -> None:
    """Run `collector_workers` worker processes on the collector's port until SIGINT/SIGTERM.

    Returns once every worker has stopped; raises `CdpError` if the port is taken, or if a
    worker exited on its own (the others are stopped first).
    """
    _WorkerPool(settings).run()


def tune_gc() -> None:
    """Make the cyclic garbage collector cheap for a process that now only serves requests.

    Everything allocated so far (modules, the app) is frozen, so that no collection traverses it
    again, and generation 0 is collected less often; see `GC_GEN0_THRESHOLD`.
    """
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


def listening_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A TCP socket bound to `host`:`port`, as uvicorn binds one, optionally with SO_REUSEPORT."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _claim_port(host: str, port: int) -> int:
    """The port the workers will share, checked free (and chosen, for port 0).

    Binding without SO_REUSEPORT fails if anything holds the port, including another collector's
    workers: without this check a second collector would silently share their traffic.
    """
    try:
        with listening_socket(host, port, reuse_port=False) as probe:
            claimed: int = probe.getsockname()[1]
    except OSError as exc:
        raise CdpError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return claimed


def worker_payload(settings: Settings, parent: int) -> bytes:
    """What a worker reads on stdin: `settings` (secrets in clear) and its supervisor's pid."""
    return orjson.dumps({"settings": settings.model_dump(), "parent": parent}, default=_plain)


def read_worker_payload(data: bytes) -> tuple[Settings, int]:
    """The settings and supervisor pid `worker_payload` wrote; the environment is not read again."""
    spec = orjson.loads(data)
    return Settings.model_validate(spec["settings"]), int(spec["parent"])


def _plain(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot pass {type(value).__name__} to a collector worker")


class _WorkerPool:
    """Starts the workers, waits for a stop signal or a worker's exit, then stops them all."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._workers: list[subprocess.Popen[bytes]] = []
        self._stop = threading.Event()

    def run(self) -> None:
        host = self._settings.collector_host
        port = _claim_port(host, self._settings.collector_port)
        settings = self._settings.model_copy(update={"collector_port": port})
        metrics_dir = tempfile.mkdtemp(prefix="cdp-collector-metrics-")
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            self._start(settings, metrics_dir)
            log.info(
                "collector: %d workers on %s:%d",
                len(self._workers),
                host,
                port,
                extra={"stage": "collector"},
            )
            failed = self._wait()
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            shutil.rmtree(metrics_dir, ignore_errors=True)
        if failed is not None:
            raise CdpError(f"collector worker {failed.pid} exited with status {failed.returncode}")

    def _on_signal(self, _signum: int, _frame: object) -> None:
        self._stop.set()

    def _start(self, settings: Settings, metrics_dir: str) -> None:
        env = {**os.environ, MULTIPROC_ENV: metrics_dir}
        payload = worker_payload(settings, os.getpid())
        for _ in range(settings.collector_workers):
            worker = subprocess.Popen(
                [sys.executable, "-c", WORKER_CODE], stdin=subprocess.PIPE, env=env
            )
            self._workers.append(worker)
            assert worker.stdin is not None
            with worker.stdin:
                worker.stdin.write(payload)

    def _wait(self) -> subprocess.Popen[bytes] | None:
        """None once a stop signal came; the worker that exited first otherwise."""
        while not self._stop.wait(SUPERVISE_POLL_S):
            for worker in self._workers:
                if worker.poll() is not None:
                    return worker
        return None

    def _stop_all(self) -> None:
        for worker in self._workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for worker in self._workers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.wait(max(0.1, deadline - time.monotonic()))
            if worker.poll() is None:
                log.warning("collector worker %d did not stop in time; killing it", worker.pid)
                worker.kill()
                worker.wait()


def serve_worker() -> None:
    """Entry point of a worker process: settings from stdin, then serve on a SO_REUSEPORT socket.

    Exits with `STARTUP_FAILED` if the server never started, and stops (as on SIGTERM) once its
    supervisor is gone, so no worker outlives a killed `cdp collector`.
    """
    settings, parent = read_worker_payload(sys.stdin.buffer.read())
    configure_logging(settings.log_level, "collector")
    sock = listening_socket(settings.collector_host, settings.collector_port, reuse_port=True)
    threading.Thread(
        target=_stop_when_orphaned, args=(parent,), name="orphan-check", daemon=True
    ).start()
    server = uvicorn.Server(uvicorn_config(settings))
    tune_gc()
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILED)


def _stop_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(ORPHAN_CHECK_S)
    os.kill(os.getpid(), signal.SIGTERM)
