"""The relay wakes when a transaction that wrote outbox rows commits, not when its poll ends."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from cdp.activation import OutboxRelay
from cdp.activation.relay import notify_outbox
from cdp.settings import Settings
from tests.integration.profiles.conftest import (  # noqa: F401 - fixtures
    pipeline_settings,
    template_database,
)

pytestmark = pytest.mark.integration

#: Far longer than a NOTIFY takes to arrive: a wait this long means the relay slept it out.
POLL_S = 30.0


def write_and_notify(settings: Settings, started: threading.Event) -> None:
    started.wait(10)
    with psycopg.connect(settings.database_dsn()) as conn, conn.transaction():
        conn.execute(
            "INSERT INTO outbox (topic, key, value) VALUES (%s, 'k', 'v')",
            (settings.topics.profile_changes,),
        )
        notify_outbox(conn)


def test_the_relay_wakes_on_the_writers_commit(pipeline_settings: Settings) -> None:  # noqa: F811
    relay = OutboxRelay(pipeline_settings)
    assert relay.relay_once() == 0
    started = threading.Event()
    writer = threading.Thread(target=write_and_notify, args=(pipeline_settings, started))
    writer.start()
    began = time.monotonic()
    started.set()
    relay.wait_for_rows(POLL_S)
    waited = time.monotonic() - began
    writer.join(10)

    assert waited < POLL_S / 3, f"woke after {waited:.1f} s: not by the notification"
    assert relay.relay_once() == 1
    with psycopg.connect(pipeline_settings.database_dsn()) as conn:
        assert conn.execute("SELECT count(*) FROM outbox").fetchone() == (0,)
