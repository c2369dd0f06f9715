"""The run-state file `cdp up` writes, so other `cdp` commands find the embedded services."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
from pydantic import BaseModel

from cdp.settings import Settings

__all__ = ["StackState", "apply_stack_state", "read_state", "write_state"]

STATE_FILE = "stack.json"


class StackState(BaseModel):
    """Where the running embedded stack listens."""

    pid: int
    kafka_bootstrap_servers: str
    database_url: str
    collector_url: str
    kafka_embedded: bool = True


def write_state(home: Path, state: StackState) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / STATE_FILE).write_bytes(orjson.dumps(state.model_dump(), option=orjson.OPT_INDENT_2))


def read_state(home: Path) -> StackState | None:
    """The state of a stack whose process is still alive, else None."""
    path = home / STATE_FILE
    if not path.exists():
        return None
    state = StackState.model_validate_json(path.read_bytes())
    try:
        os.kill(state.pid, 0)
    except OSError:
        return None
    return state


def clear_state(home: Path) -> None:
    (home / STATE_FILE).unlink(missing_ok=True)


def apply_stack_state(settings: Settings) -> Settings:
    """Fill in the Kafka and Postgres addresses of a running `cdp up` where none are configured."""
    if not settings.uses_embedded_services:
        return settings
    state = read_state(settings.home)
    if state is None:
        return settings
    update: dict[str, object] = {}
    if settings.kafka_bootstrap_servers is None:
        update["kafka_bootstrap_servers"] = state.kafka_bootstrap_servers
        update["kafka_embedded"] = state.kafka_embedded
    if settings.database_url is None:
        from pydantic import SecretStr

        update["database_url"] = SecretStr(state.database_url)
    return settings.model_copy(update=update)
