"""A lost Postgres connection is retried with backoff; no batch is lost or applied twice."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

from cdp.profiles.observability import RETRIES
from cdp.settings import Settings
from tests.integration.profiles.conftest import EventSender, RunningProcessor, query
from tests.integration.profiles.test_identity_scenarios import profile_of

pytestmark = pytest.mark.integration


def terminate_other_backends(settings: Settings) -> int:
    with psycopg.connect(settings.database_dsn(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return len(rows)


def test_processor_survives_its_connection_being_killed(
    pipeline_settings: Settings,
    sender: EventSender,
    processor: RunningProcessor,
    processed: Callable[[], None],
) -> None:
    sender.send(
        *[
            {"type": "track", "userId": "steady", "event": "Before", "messageId": f"b{i}"}
            for i in range(5)
        ]
    )
    processed()
    retries_before = RETRIES._value.get()

    assert terminate_other_backends(pipeline_settings) >= 1
    sender.send(
        *[
            {"type": "track", "userId": "steady", "event": "After", "messageId": f"a{i}"}
            for i in range(5)
        ]
    )
    processed()

    pid = profile_of(pipeline_settings, "user_id", "steady")
    [(computed,)] = query(pipeline_settings, "SELECT computed FROM profiles WHERE id = %s", pid)
    assert computed["events"] == {"Before": 5, "After": 5}
    assert RETRIES._value.get() > retries_before
