"""The outbox relay under test, as its own `python -m cdp relay` process, as `cdp up` runs it."""

from __future__ import annotations

from pathlib import Path

from cdp.bench.child import ChildProcess
from cdp.bench.processor import processor_env
from cdp.settings import Settings

__all__ = ["RelayProcess"]

#: The relay flushes the batch in hand on SIGTERM (up to 10 s), then closes its connection.
STOP_GRACE_S = 15.0
LOG_TAIL_BYTES = 3000


class RelayProcess(ChildProcess):
    """One relay with its output in `log_path`; a context manager that stops it on exit."""

    command = "relay"
    stop_grace_s = STOP_GRACE_S
    log_tail_bytes = LOG_TAIL_BYTES

    def __init__(self, settings: Settings, log_path: Path) -> None:
        super().__init__(log_path)
        self._settings = settings

    def env(self) -> dict[str, str]:
        env = processor_env(self._settings)
        env.update(
            CDP_RELAY_POLL_MS=str(self._settings.relay_poll_ms),
            CDP_RELAY_BATCH_MAX=str(self._settings.relay_batch_max),
        )
        return env

    def exited(self) -> bool:
        return self._process is not None and self._process.poll() is not None
