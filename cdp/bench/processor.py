"""The processor under test, as its own `python -m cdp processor` process, as `cdp up` runs it."""

from __future__ import annotations

from pathlib import Path

import psutil

from cdp.bench.child import ChildProcess
from cdp.bench.errors import BenchError
from cdp.settings import Settings
from cdp.stack import Supervisor

__all__ = ["ProcessorProcess", "processor_env"]

#: The processor finishes the batch in hand on SIGTERM; a batch takes well under a second, the
#: rest is closing the consumer (leaving the group) and the producer.
STOP_GRACE_S = 30.0
LOG_TAIL_BYTES = 3000


def processor_env(settings: Settings, index: int = 0) -> dict[str, str]:
    """The environment of a processor child: the stack's addresses plus `settings`' topics,
    consumer group, batch limits, deferral and PII encryption, which the bench sets per run.
    With `metrics_port` set, processor `index` serves its metrics on `metrics_port + index`."""
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
        CDP_PROCESSOR_DEFER_CONTENDED=str(settings.processor_defer_contended).lower(),
        CDP_METRICS_PORT=str(settings.metrics_port + index if settings.metrics_port else 0),
        CDP_PRIVACY__ENCRYPT_PII=str(settings.privacy.encrypt_pii).lower(),
    )
    return env


class ProcessorProcess(ChildProcess):
    """One processor with its output in `log_path`; a context manager that stops it on exit."""

    command = "processor"
    stop_grace_s = STOP_GRACE_S
    log_tail_bytes = LOG_TAIL_BYTES

    def __init__(self, settings: Settings, log_path: Path, index: int = 0) -> None:
        super().__init__(log_path)
        self._settings = settings
        self._index = index

    def env(self) -> dict[str, str]:
        return processor_env(self._settings, self._index)

    @property
    def process(self) -> psutil.Process:
        if self._process is None:
            raise BenchError("the processor is not started")
        return psutil.Process(self._process.pid)

    def check_alive(self) -> None:
        """`BenchError`, with the end of its log, if the processor has exited."""
        if self._process is None or self._process.poll() is not None:
            raise BenchError(f"the processor exited:\n{self.log_tail()}")
