"""A `python -m cdp <command>` child process of a benchmark, its output in a log file."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = ["ChildProcess"]


class ChildProcess:
    """Starts `cdp <command>` with `env()`; a context manager that stops it on exit.

    Subclasses say which command, its environment, how long it may take to stop (`stop_grace_s`)
    and how much of its log an error message shows (`log_tail_bytes`).
    """

    command: str
    stop_grace_s: float
    log_tail_bytes: int

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        raise NotImplementedError

    def __enter__(self) -> Self:
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
                [sys.executable, "-m", "cdp", self.command],
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after `stop_grace_s`; returns once the process is gone."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(self.stop_grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def log_tail(self) -> str:
        """The end of the child's output, for error messages."""
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return f"(no {self.command} log)"
        return data[-self.log_tail_bytes :].decode("utf-8", "replace")
