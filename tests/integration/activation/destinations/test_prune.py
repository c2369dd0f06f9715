"""The sweep's housekeeping drops pending pairs nothing would end, against the real Postgres."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cdp.activation.destinations import parse_destinations
from cdp.activation.destinations.delivery import Deliverer
from cdp.activation.destinations.errors import DeliveryFailed
from cdp.activation.destinations.payload import Change
from cdp.db.tables import destination_pending
from cdp.settings import Settings

pytestmark = pytest.mark.integration


def add_pending(engine: Engine, destination: str, pairs: list[tuple[str, int]]) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.insert(destination_pending),
            [
                {"destination": destination, "segment": s, "profile_id": p, "change_id": f"c{p}"}
                for s, p in pairs
            ],
        )


def pending(engine: Engine, destination: str) -> set[tuple[str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(destination_pending.c.segment, destination_pending.c.profile_id).where(
                destination_pending.c.destination == destination
            )
        ).all()
    return {(r[0], r[1]) for r in rows}


def prune(settings: Settings, definition: dict[str, Any]) -> None:
    """Run one `Deliverer.prune` of the destination `definition` on its own connection."""
    (destination,) = parse_destinations(definition)

    async def never(_change: Change, _body: bytes) -> None:
        raise AssertionError("pruning sends nothing")

    async def no_dead_letters(_change: Change, _body: bytes, _exc: DeliveryFailed) -> None:
        raise AssertionError("pruning dead-letters nothing")

    async def run() -> None:
        conn = await psycopg.AsyncConnection.connect(settings.database_dsn(), autocommit=True)
        try:
            await Deliverer(destination, never, no_dead_letters, conn).prune()
        finally:
            await conn.close()

    asyncio.run(run())


def destination(name: str, segments: list[str], consent: list[str]) -> dict[str, Any]:
    channel = {"type": "kafka", "topic": "cdp.test.prune"}
    return {"name": name, "segments": segments, "consent": consent, "channel": channel}


def test_pending_pairs_of_segments_no_longer_received_are_dropped(
    base_settings: Settings, engine: Engine
) -> None:
    name, other = f"prune-{uuid.uuid4().hex[:8]}", f"prune-{uuid.uuid4().hex[:8]}"
    add_pending(engine, name, [("kept", 1), ("kept", 2), ("dropped", 1), ("gone", 3)])
    add_pending(engine, other, [("dropped", 1)])

    prune(base_settings, destination(name, ["kept", "new"], ["marketing"]))

    assert pending(engine, name) == {("kept", 1), ("kept", 2)}
    assert pending(engine, other) == {("dropped", 1)}


def test_a_destination_without_consent_purposes_keeps_no_pending_pair(
    base_settings: Settings, engine: Engine
) -> None:
    name = f"prune-{uuid.uuid4().hex[:8]}"
    add_pending(engine, name, [("kept", 1), ("kept", 2)])

    prune(base_settings, destination(name, ["kept"], []))

    assert pending(engine, name) == set()
