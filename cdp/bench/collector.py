"""The collector under test, as its own `python -m cdp collector` process, as `cdp up` runs it."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import httpx
import psutil

from cdp.bench.child import ChildProcess
from cdp.bench.errors import BenchError
from cdp.settings import Settings
from cdp.stack import Supervisor

__all__ = ["CollectorProcess"]

#: Start-up here takes 2-3 s (imports, broker metadata, topic check); the deadline leaves room
#: for a loaded machine without hanging a broken run for long.
READY_TIMEOUT_S = 60.0
READY_POLL_S = 0.1

#: uvicorn's graceful shutdown (10 s) plus the producer's flush; after that it is killed.
STOP_GRACE_S = 15.0
LOG_TAIL_BYTES = 2000


class CollectorProcess(ChildProcess):
    """One collector on 127.0.0.1:`port`, its output in `log_path`; a context manager.

    `workers` overrides the settings' `collector_workers` (CDP_COLLECTOR_WORKERS).
    """

    command = "collector"
    stop_grace_s = STOP_GRACE_S
    log_tail_bytes = LOG_TAIL_BYTES

    def __init__(
        self, settings: Settings, port: int, log_path: Path, workers: int | None = None
    ) -> None:
        super().__init__(log_path)
        self.port = port
        self.workers = settings.collector_workers if workers is None else workers
        self._settings = settings

    @property
    def url(self) -> str:
        return f"http://{self._settings.collector_host}:{self.port}"

    @property
    def pid(self) -> int:
        if self._process is None:
            raise BenchError("the collector is not started")
        return self._process.pid

    def env(self) -> dict[str, str]:
        env = Supervisor(self._settings).child_env()
        env["CDP_COLLECTOR_PORT"] = str(self.port)
        env["CDP_COLLECTOR_HOST"] = self._settings.collector_host
        env["CDP_COLLECTOR_WORKERS"] = str(self.workers)
        return env

    def processes(self) -> dict[str, psutil.Process]:
        """The collector's processes by name: `collector`, and `collector worker N` for each worker.

        With one worker the collector is one process; with several, `collector` is the
        supervisor and the workers are its children.
        """
        main = psutil.Process(self.pid)
        named = {"collector": main}
        if self.workers > 1:
            children = sorted(main.children(), key=lambda child: child.pid)
            named.update({f"collector worker {i}": c for i, c in enumerate(children, 1)})
        return named

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Return once GET /readyz answers 200 and every worker listens on the port.

        Load must not start before the last worker listens: connections opened before that
        would all go to the workers that do, and keep-alive connections stay where they land.
        `BenchError` if the collector exits or the deadline passes.
        """
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self._process is None or self._process.poll() is not None:
                    raise BenchError(f"the collector exited at start:\n{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    ready = client.get(self.url + "/readyz").status_code == 200
                    if ready and self._listeners() >= self.workers:
                        return
                time.sleep(READY_POLL_S)
        raise BenchError(f"the collector was not ready within {timeout:.0f} s:\n{self.log_tail()}")

    def _listeners(self) -> int:
        """Sockets listening on the collector's port, whoever owns them."""
        return sum(
            1
            for conn in psutil.net_connections(kind="tcp")
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == self.port
        )
