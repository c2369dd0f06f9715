"""A migrated database of its own per test (no Kafka), and a small writer of profile-store rows."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from cdp.activation.segments import (
    EventFact,
    ProfileFacts,
    SegmentDefinition,
    live_members_query,
    next_boundary,
)
from cdp.db import upgrade
from cdp.db.tables import computed_trait_values, events, group_members, groups, profiles
from cdp.settings import Settings, sqlalchemy_url
from tests.services import clone_database, drop_database, sibling_url

TEMPLATE = "cdp_segments_template"
#: The months the tests write events into (the timeline has no default partition).
MONTHS = [(2026, m) for m in range(8, 13)] + [(2027, 1)]


@pytest.fixture(scope="session")
def segments_template(database_url: str) -> str:
    """A migrated database with event partitions for `MONTHS`, used only as a template."""
    admin = sibling_url(database_url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}"')
        conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
    url = sibling_url(database_url, TEMPLATE)
    upgrade(Settings(database_url=SecretStr(url)))
    with psycopg.connect(url, autocommit=True) as conn:
        for year, month in MONTHS:
            end = (year + 1, 1) if month == 12 else (year, month + 1)
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS events_{year}_{month:02d} PARTITION OF events "
                f"FOR VALUES FROM ('{year}-{month:02d}-01') TO ('{end[0]}-{end[1]:02d}-01')"
            )
    return admin


def _engine(admin: str) -> Iterator[Engine]:
    url = clone_database(admin, TEMPLATE)
    engine = sa.create_engine(sqlalchemy_url(url), poolclass=NullPool)
    try:
        yield engine
    finally:
        engine.dispose()
        drop_database(admin, url)


@pytest.fixture
def segments_engine(segments_template: str) -> Iterator[Engine]:
    """An engine on a fresh database of this test's own."""
    yield from _engine(segments_template)


_message_ids = itertools.count()


@dataclass
class Store:
    """Writes profiles, events and groups straight into the tables, and asks segment queries."""

    conn: Connection
    facts: dict[int, ProfileFacts] = field(default_factory=dict)

    def profile(
        self,
        traits: dict[str, Any] | None = None,
        computed: dict[str, Any] | None = None,
        merged_into: int | None = None,
        configured: dict[str, Any] | None = None,
    ) -> int:
        traits, computed = traits or {}, computed or {}
        pid = self.conn.execute(
            sa.insert(profiles)
            .values(
                traits=traits,
                trait_times={},
                computed=computed,
                merged_into=merged_into,
                merge_count=0,
            )
            .returning(profiles.c.id)
        ).scalar_one()
        self.facts[pid] = ProfileFacts(traits, computed, [], [], configured or {})
        for name, value in (configured or {}).items():
            self.conn.execute(
                sa.insert(computed_trait_values).values(
                    profile_id=pid, name=name, kind="first", n=1, first_value=value
                )
            )
        return int(pid)

    def raw_profile(self, traits_json: str, computed_json: str = "{}") -> int:
        """A profile from JSON text, for values Python's json cannot produce (e.g. 1e400)."""
        return int(
            self.conn.execute(
                sa.text(
                    "INSERT INTO profiles (traits, trait_times, computed, merge_count) "
                    "VALUES (CAST(:t AS jsonb), '{}', CAST(:c AS jsonb), 0) RETURNING id"
                ),
                {"t": traits_json, "c": computed_json},
            ).scalar_one()
        )

    def event(
        self,
        pid: int,
        name: str | None,
        at: datetime,
        kind: str = "track",
        **properties: Any,
    ) -> None:
        self.conn.execute(
            sa.insert(events).values(
                profile_id=pid,
                message_id=f"m{next(_message_ids)}-{uuid.uuid4().hex[:6]}",
                type=kind,
                name=name,
                event_time=at,
                received_at=at,
                source_id="src",
                properties=properties,
                context={},
            )
        )
        old = self.facts[pid]
        self.facts[pid] = replace(old, events=[*old.events, EventFact(kind, name, at, properties)])

    def group(self, pid: int, traits: dict[str, Any] | None) -> str:
        """Make `pid` a member of a new group; `traits=None` leaves the group without a row."""
        group_id = f"g{uuid.uuid4().hex[:10]}"
        if traits is not None:
            self.conn.execute(
                sa.insert(groups).values(group_id=group_id, traits=traits, trait_times={})
            )
        seen = datetime(2026, 1, 1, tzinfo=UTC)
        self.conn.execute(
            sa.insert(group_members).values(
                group_id=group_id, profile_id=pid, first_seen=seen, last_seen=seen
            )
        )
        old = self.facts[pid]
        self.facts[pid] = replace(old, groups=[*old.groups, traits or {}])
        return group_id

    def members(
        self,
        defn: SegmentDefinition,
        now: datetime,
        among: Sequence[int] | None = None,
        parametric: bool = False,
    ) -> set[int]:
        """The members among `among`; `parametric`: compiled with `now` as the `NOW` parameter
        (as the processor's cached statement is) instead of literal instants."""
        ids = list(self.facts) if among is None else among
        query = live_members_query(defn, None if parametric else now, ids)
        params = {"now": now} if parametric else {}
        return set(self.conn.execute(query, params).scalars())

    def boundaries(
        self,
        defn: SegmentDefinition,
        now: datetime,
        among: Sequence[int] | None = None,
        parametric: bool = False,
    ) -> dict[int, datetime | None]:
        expression = next_boundary(defn, None if parametric else now)
        ids = list(self.facts) if among is None else list(among)
        if expression is None:
            return dict.fromkeys(ids)
        rows = self.conn.execute(
            sa.select(profiles.c.id, expression).where(profiles.c.id.in_(ids)),
            {"now": now} if parametric else {},
        ).all()
        return {pid: at for pid, at in rows}


@pytest.fixture
def store(segments_engine: Engine) -> Iterator[Store]:
    """A `Store` on this test's database, in one transaction rolled back at the end."""
    with segments_engine.connect() as conn, conn.begin() as tx:
        yield Store(conn)
        tx.rollback()
