"""`/healthz`, `/readyz` and `/metrics` for the services that have no HTTP API of their own
(processor, relay, scheduler, activation), on `CDP_METRICS_PORT`."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from cdp.observability.checks import standard_checks
from cdp.observability.metrics import READY
from cdp.settings import Settings

__all__ = ["LIVENESS_TIMEOUT_S", "READY_CACHE_S", "HealthServer", "serve_health"]

log = logging.getLogger(__name__)

#: A service whose loop has not called `beat()` for this long is reported dead (503 on
#: /healthz), so an orchestrator restarts it. Generous: a processor batch retried with backoff
#: against a restarting Postgres may take a minute, and that is not a hang.
LIVENESS_TIMEOUT_S = 120.0
#: Readiness checks open connections; probes every few seconds from several sources should not
#: each pay for that, so one answer is reused this long.
READY_CACHE_S = 2.0

Check = Callable[[], bool]


class HealthServer:
    """Serves liveness (the service loop's heartbeat), readiness (named checks, e.g. Kafka and
    Postgres) and the Prometheus registry, from a daemon thread."""

    def __init__(
        self,
        service: str,
        host: str,
        port: int,
        checks: Mapping[str, Check],
        registry: CollectorRegistry = REGISTRY,
    ) -> None:
        self.service = service
        self.registry = registry
        self._checks = dict(checks)
        self._beat = time.monotonic()
        self._ready: tuple[float, dict[str, bool]] | None = None
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def beat(self) -> None:
        """Called by the service loop on every turn: proof that it is not stuck."""
        self._beat = time.monotonic()

    def alive(self) -> bool:
        return time.monotonic() - self._beat < LIVENESS_TIMEOUT_S

    def readiness(self) -> dict[str, bool]:
        """Each check's result (a check that raises counts as failed), cached `READY_CACHE_S`."""
        with self._lock:
            now = time.monotonic()
            if self._ready is None or now - self._ready[0] > READY_CACHE_S:
                results = {name: _safe(check) for name, check in self._checks.items()}
                self._ready = (now, results)
                READY.labels(self.service).set(1 if all(results.values()) else 0)
            return self._ready[1]


def _safe(check: Check) -> bool:
    try:
        return bool(check())
    except Exception:
        log.debug("readiness check failed", exc_info=True)
        return False


def _handler(health: HealthServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                alive = health.alive()
                self._json(200 if alive else 503, {"alive": alive, "service": health.service})
            elif self.path == "/readyz":
                checks = health.readiness()
                ready = all(checks.values())
                self._json(200 if ready else 503, {"ready": ready, "checks": checks})
            elif self.path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, generate_latest(health.registry))
            else:
                self._json(404, {"code": "not_found", "message": f"no such path: {self.path}"})

        def _json(self, status: int, body: object) -> None:
            self._send(status, "application/json", orjson.dumps(body))

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


def serve_health(
    settings: Settings, service: str, registry: CollectorRegistry = REGISTRY
) -> HealthServer | None:
    """Start a `HealthServer` on `metrics_host:metrics_port` with the standard Kafka and
    Postgres readiness checks, unless the port is 0 (off); returns it so the service loop can
    `beat()`. `registry` is what /metrics serves (a multiprocess collector for a service whose
    work runs in child processes)."""
    if not settings.metrics_port:
        return None
    server = HealthServer(
        service, settings.metrics_host, settings.metrics_port, standard_checks(settings), registry
    ).start()
    log.info("health and metrics on :%d", server.port, extra={"stage": service})
    return server
