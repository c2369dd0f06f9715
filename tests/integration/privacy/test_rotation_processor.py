"""A rotation while the real processor keeps writing to the same profiles; afterwards the
relay publishes every pending change with the old key dropped."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import orjson
import psycopg
import pytest

from cdp.activation import OutboxRelay
from cdp.db import create_engine
from cdp.privacy.rotation import RotationRunner, census, request_rotation
from cdp.settings import Settings
from tests.conftest import wait_for
from tests.integration.privacy.rotation_data import NEW, OLD, snapshot, with_keys
from tests.integration.profiles.conftest import (  # noqa: F401 - fixtures
    EventSender,
    RunningProcessor,
    pipeline_settings,
    processed,
    sender,
    template_database,
)
from tests.integration.profiles.test_identity_scenarios import at, profile_of, traits
from tests.kafka_helpers import read_all

pytestmark = pytest.mark.integration

PERSONS = 25
ROUNDS = 4


def round_of(n: int, r: int) -> list[dict[str, Any]]:
    """Person `n`'s identify (a new plan and city each round) and a track event."""
    return [
        {
            "type": "identify",
            "userId": f"u{n}",
            "traits": {
                "email": f"p{n}@example.com",
                "plan": f"r{r}",
                "address": {"city": f"c{r}"},
                "name": f"Person {n}",
            },
            "messageId": f"i{n}-{r}",
            "timestamp": at(r),
        },
        {
            "type": "track",
            "userId": f"u{n}",
            "event": "Viewed",
            "properties": {"email": f"p{n}@example.com", "round": r},
            "messageId": f"t{n}-{r}",
            "timestamp": at(r),
        },
    ]


def started(settings: Settings, rotation_id: int) -> bool:
    with psycopg.connect(settings.database_dsn()) as conn:
        row = conn.execute(
            "SELECT progress ? 'step' FROM data_key_rotations WHERE id = %s", (rotation_id,)
        ).fetchone()
    return bool(row and row[0])


def test_rotation_while_the_processor_writes(
    pipeline_settings: Settings,  # noqa: F811
    sender: EventSender,  # noqa: F811
    processed: Callable[[], None],  # noqa: F811
) -> None:
    old = with_keys(pipeline_settings, OLD, (OLD,))
    new = with_keys(pipeline_settings, NEW)
    with RunningProcessor(old):
        for n in range(PERSONS):
            sender.send(*round_of(n, 0))
        processed()
    with psycopg.connect(new.database_dsn()) as conn:
        before = census(conn)
    assert before["identifiers"] == {OLD: 2 * PERSONS}
    assert set(before["profiles"]) == {OLD}

    engine = create_engine(new, pool_size=1)
    try:
        rotation = request_rotation(engine, new)
    finally:
        engine.dispose()
    outcome: list[str] = []

    def rotate() -> None:
        with psycopg.connect(new.database_dsn(), autocommit=True) as conn:
            outcome.append(RotationRunner(new, chunk_rows=3, chunk_blocks=1).run(conn, rotation.id))

    with RunningProcessor(new):
        runner = threading.Thread(target=rotate, daemon=True)
        runner.start()
        wait_for(
            lambda: started(new, rotation.id), timeout=30, what="the rotation to start its work"
        )
        for r in range(1, ROUNDS + 1):
            for n in range(PERSONS):
                sender.send(*round_of(n, r))
        processed()
        wait_for(lambda: not runner.is_alive(), timeout=120, what="the rotation to finish")
    assert outcome == ["done"]

    with psycopg.connect(new.database_dsn()) as conn:
        after = census(conn)
        progress = conn.execute(
            "SELECT progress FROM data_key_rotations WHERE id = %s", (rotation.id,)
        ).fetchone()
    assert all(set(by_key) == {NEW} for by_key in after.values()), after
    assert progress is not None
    assert progress[0]["moved"]["profiles"] > 0, "the rotation itself moved values"
    assert progress[0]["moved"]["outbox"] >= PERSONS, "round 0's changes, still in the outbox"

    new_only = with_keys(pipeline_settings, NEW, (NEW,))
    for n in range(PERSONS):
        profile = profile_of(new_only, "user_id", f"u{n}")
        assert profile_of(new_only, "email", f"p{n}@example.com") == profile
        assert traits(new_only, profile) == {
            "email": f"p{n}@example.com",
            "plan": f"r{ROUNDS}",
            "address": {"city": f"c{ROUNDS}"},
            "name": f"Person {n}",
        }
    relay = OutboxRelay(new_only)
    while relay.relay_once():
        pass
    changes = [c.value for c in read_all(new_only, new_only.topics.profile_changes)]
    assert len(changes) > PERSONS, "the created changes and later updates"
    assert not [c for c in changes if "cdp:enc:" in c["traits"]]
    assert {orjson.loads(c["traits"]).get("email") for c in changes} == {
        f"p{n}@example.com" for n in range(PERSONS)
    }
    everything = snapshot(new_only)
    assert len(everything["events"]) == PERSONS * (ROUNDS + 1) * 2
    assert {(t, v) for t, v in everything["identifiers"]} >= {
        ("email", f"p{n}@example.com") for n in range(PERSONS)
    }
