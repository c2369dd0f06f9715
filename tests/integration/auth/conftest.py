"""The profile API in-process (real Postgres, real Kafka for segment topics), keys per role, a person."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from cdp.auth import ROLES, Role, create_key
from cdp.db.tables import group_members, groups, identifiers, profiles
from cdp.profiles.api import create_api
from cdp.settings import Settings
from tests.integration.pii import identifier_row, seal
from tests.integration.profiles.test_api import unique_phone

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def client(base_settings: Settings) -> Iterator[TestClient]:
    """The profile API app (segments included), its lifespan run, called without sockets."""
    with TestClient(create_api(base_settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def role_keys(engine: Engine) -> dict[Role, str]:
    """One key per role, each holding that role alone."""
    tag = uuid.uuid4().hex[:8]
    return {role: create_key(engine, f"{role.value}-{tag}", [role])[1] for role in ROLES}


@pytest.fixture(scope="module")
def reader_key(engine: Engine) -> tuple[str, str]:
    """(key id, key) of a key with `profiles:read` only."""
    key, secret = create_key(engine, f"reader-{uuid.uuid4().hex[:8]}", [Role.PROFILES_READ])
    return key.key_id, secret


@pytest.fixture(scope="module")
def pii_key(engine: Engine) -> tuple[str, str]:
    """(key id, key) of a key with `profiles:read` and `pii:read`."""
    key, secret = create_key(
        engine, f"pii-{uuid.uuid4().hex[:8]}", [Role.PROFILES_READ, Role.PII_READ]
    )
    return key.key_id, secret


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass(frozen=True)
class Person:
    profile_id: int
    email: str
    phone: str
    user_id: str
    first_name: str
    street: str
    company: str
    cohort: str


@pytest.fixture(scope="module")
def person(base_settings: Settings, engine: Engine) -> Person:
    """A profile with PII traits, an email, a phone and a user id, in one group, stored as the
    processor stores them (identifiers hashed and sealed, PII traits sealed)."""
    tag = uuid.uuid4().hex[:10]
    who = Person(
        profile_id=0,
        email=f"jane.{tag}@example.com",
        phone=unique_phone(),
        user_id=f"u-{tag}",
        first_name=f"Jane{tag}",
        street=f"{tag} Main Street",
        company=f"Acme {tag}",
        cohort=f"c-{tag}",
    )
    traits = {
        "email": who.email,
        "firstName": who.first_name,
        "phone": who.phone,
        "plan": "gold",
        "address": {"street": who.street, "city": "Leeds"},
        "cohort": who.cohort,
    }
    with engine.begin() as conn:
        pid = conn.execute(
            sa.insert(profiles)
            .values(
                traits=seal(base_settings, traits),
                trait_times={},
                computed={"event_count": 3},
                merge_count=0,
            )
            .returning(profiles.c.id)
        ).scalar_one()
        conn.execute(
            sa.insert(identifiers),
            [
                identifier_row(base_settings, t, v, pid, T0)
                for t, v in (("email", who.email), ("phone", who.phone), ("user_id", who.user_id))
            ],
        )
        group_id = f"g-{tag}"
        conn.execute(
            sa.insert(groups).values(
                group_id=group_id,
                traits=seal(base_settings, {"name": who.company, "plan": "team"}),
                trait_times={},
            )
        )
        conn.execute(
            sa.insert(group_members).values(
                group_id=group_id, profile_id=pid, first_seen=T0, last_seen=T0
            )
        )
    return Person(
        int(pid),
        who.email,
        who.phone,
        who.user_id,
        who.first_name,
        who.street,
        who.company,
        who.cohort,
    )
