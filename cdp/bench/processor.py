"""The processor under test, as its own `python -m cdp processor` process, as `cdp up` runs it."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType

import psutil

from cdp.bench.errors import BenchError
from cdp.settings import Settings
from cdp.stack import Supervisor

__all__ = ["ProcessorProcess", "processor_env"]

#: The processor finishes the batch in hand on SIGTERM; a batch takes well under a second, the
#: rest is closing the consumer (leaving the group) and the producer.
STOP_GRACE_S = 30.0
LOG_TAIL_BYTES = 3000


def processor_env(settings: Settings) -> dict[str, str]:
    """The environment of a processor child: the stack's addresses plus `settings`' topics,
    consumer group and batch limits, which the bench sets per run."""
    env = Supervisor(settings).child_env()
    topics = settings.topics
    env.update(
        CDP_TOPICS__RAW=topics.raw,
        CDP_TOPICS__DLQ=topics.dlq,
        CDP_TOPICS__PROFILE_CHANGES=topics.profile_changes,
        CDP_TOPICS__MEMBERSHIP=topics.membership,
        CDP_TOPICS__ACTIVATION_DLQ=topics.activation_dlq,
        CDP_TOPICS__PARTITIONS=str(topics.partitions),
        CDP_PROCESSOR_GROUP=settings.processor_group,
        CDP_PROCESSOR_BATCH_MAX=str(settings.processor_batch_max),
        CDP_PROCESSOR_BATCH_WAIT_MS=str(settings.processor_batch_wait_ms),
        CDP_PROCESSOR_METRICS_PORT="0",
    )
    return env


class ProcessorProcess:
    """One processor with its output in `log_path`; a context manager that stops it on exit."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.log_path = log_path
        self._settings = settings
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ProcessorProcess:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "cdp", "processor"],
                env=processor_env(self._settings),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    @property
    def process(self) -> psutil.Process:
        if self._process is None:
            raise BenchError("the processor is not started")
        return psutil.Process(self._process.pid)

    def check_alive(self) -> None:
        """`BenchError`, with the end of its log, if the processor has exited."""
        if self._process is None or self._process.poll() is not None:
            raise BenchError(f"the processor exited:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after `STOP_GRACE_S`; returns once the process is gone."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def log_tail(self) -> str:
        """The end of the processor's output, for error messages."""
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return "(no processor log)"
        return data[-LOG_TAIL_BYTES:].decode("utf-8", "replace")
