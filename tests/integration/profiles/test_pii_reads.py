"""Reading PII at rest: the API and `cdp profile show` on a database of their own, written
encrypted or in clear, and refusing a database written another way than the settings say."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
import sqlalchemy as sa
import uvicorn
from fastapi.testclient import TestClient
from pydantic import SecretStr
from typer.testing import CliRunner

from cdp.cli import app as cli
from cdp.db import create_engine
from cdp.embedded import free_port
from cdp.privacy.atrest import SEALED_PREFIX
from cdp.privacy.errors import PiiStateMismatch
from cdp.privacy.keystate import check_pii_state
from cdp.privacy.observability import UNOPENED_VALUES
from cdp.profiles import api_service
from cdp.profiles.api import create_api
from cdp.profiles.pii_state import PiiStateGate
from cdp.settings import Privacy, Settings
from tests.integration.pii import identifier_row, seal, seal_properties
from tests.integration.profiles.conftest import TEMPLATE
from tests.services import clone_database, drop_database

pytestmark = pytest.mark.integration

TOKEN = "pii-read-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
#: Looks like a sealed value but is not one of ours: anyone can send such a property.
LOOKALIKE = f"{SEALED_PREFIX}dev:bm90LW91cnM"


@pytest.fixture
def fresh(base_settings: Settings, template_database: str) -> Iterator[Settings]:
    """The test settings on a database of their own, nothing recorded in `pii_state` yet."""
    url = clone_database(template_database, TEMPLATE)
    yield base_settings.model_copy(
        update={"database_url": SecretStr(url), "api_token": SecretStr(TOKEN)}
    )
    drop_database(template_database, url)


def in_clear(settings: Settings) -> Settings:
    return settings.model_copy(update={"privacy": Privacy(encrypt_pii=False)})


def seed(settings: Settings, email: str, lookalike: bool = False) -> int:
    """A profile as the processor would store it under `settings`; its id."""
    extra = {"nickname": LOOKALIKE} if lookalike else {}
    with psycopg.connect(settings.database_dsn(), autocommit=True) as conn:
        [(pid,)] = conn.execute(
            "INSERT INTO profiles (traits, trait_times, computed, merge_count) "
            "VALUES (%s, '{}', '{}', 0) RETURNING id",
            (psycopg.types.json.Jsonb(seal(settings, {"email": email, "plan": "pro", **extra})),),
        ).fetchall()
        row = identifier_row(settings, "email", email, pid, T0)
        conn.execute(
            "INSERT INTO identifiers (id_type, id_value, value_enc, key_id, profile_id, "
            "first_seen, last_seen) VALUES (%(id_type)s, %(id_value)s, %(value_enc)s, "
            "%(key_id)s, %(profile_id)s, %(first_seen)s, %(last_seen)s)",
            row,
        )
        conn.execute(
            "CREATE TABLE IF NOT EXISTS events_2026_11 PARTITION OF events "
            "FOR VALUES FROM ('2026-11-01 00:00+00') TO ('2026-12-01 00:00+00')"
        )
        conn.execute(
            "INSERT INTO events (profile_id, message_id, type, name, event_time, received_at, "
            "properties, context) VALUES (%s, %s, 'identify', NULL, %s, %s, %s, %s)",
            (
                pid,
                f"m-{uuid.uuid4().hex[:8]}",
                T0,
                T0,
                psycopg.types.json.Jsonb(seal(settings, {"email": email, **extra})),
                psycopg.types.json.Jsonb(seal(settings, {"traits": {"email": email}})),
            ),
        )
    return int(pid)


@pytest.mark.parametrize("encrypted", [True, False], ids=["encrypted", "in-clear"])
def test_the_api_reads_either_mode_in_clear(fresh: Settings, encrypted: bool) -> None:
    settings = fresh if encrypted else in_clear(fresh)
    email = f"ann.{uuid.uuid4().hex[:8]}@example.com"
    pid = seed(settings, email)
    [(id_value, traits)] = psycopg.connect(settings.database_dsn()).execute(
        "SELECT i.id_value, p.traits::text FROM identifiers i JOIN profiles p ON p.id = i.profile_id"
    )
    assert (email in id_value) is not encrypted
    assert (email in traits) is not encrypted

    with TestClient(create_api(settings)) as client:
        whole = client.get(f"/v1/profiles/email:{email.upper()}", headers=AUTH)
        events = client.get(f"/v1/profiles/email:{email}/events", headers=AUTH)

    assert whole.status_code == 200, whole.text
    assert whole.json()["profile_id"] == str(pid)
    assert whole.json()["traits"] == {"email": email, "plan": "pro"}
    assert [(i["type"], i["value"]) for i in whole.json()["identifiers"]] == [("email", email)]
    [event] = events.json()["events"]
    assert event["properties"] == {"email": email}
    assert event["context"] == {"traits": {"email": email}}


def test_a_value_that_only_looks_sealed_is_shown_as_it_is(fresh: Settings) -> None:
    email = f"bob.{uuid.uuid4().hex[:8]}@example.com"
    seed(fresh, email, lookalike=True)
    before = UNOPENED_VALUES.labels("not_ours")._value.get()

    with TestClient(create_api(fresh)) as client:
        whole = client.get(f"/v1/profiles/email:{email}", headers=AUTH)
        events = client.get(f"/v1/profiles/email:{email}/events", headers=AUTH)

    assert whole.status_code == events.status_code == 200, (whole.text, events.text)
    assert whole.json()["traits"]["nickname"] == LOOKALIKE
    assert whole.json()["traits"]["email"] == email
    assert events.json()["events"][0]["properties"] == {"email": email, "nickname": LOOKALIKE}
    assert UNOPENED_VALUES.labels("not_ours")._value.get() - before == 2


@pytest.mark.parametrize("recorded_by", ["in clear", "another hash key"])
def test_a_database_written_another_way_stops_the_api_and_the_cli(
    fresh: Settings, recorded_by: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = (
        in_clear(fresh)
        if recorded_by == "in clear"
        else fresh.model_copy(update={"privacy": Privacy(hash_key=SecretStr("k" * 32))})
    )
    engine = create_engine(other, pool_size=1)
    try:
        check_pii_state(engine, other)
    finally:
        engine.dispose()

    class NeverServe:
        def __init__(self, *args: object) -> None:
            raise AssertionError("the API must not start serving")

    monkeypatch.setattr(uvicorn, "Server", NeverServe)
    with pytest.raises(PiiStateMismatch, match=r"in clear|HASH_KEY"):
        api_service.run_api(fresh)
    with pytest.raises(PiiStateMismatch), TestClient(create_api(fresh)):
        pass

    assert fresh.database_url is not None
    monkeypatch.setenv("CDP_DATABASE_URL", fresh.database_url.get_secret_value())
    monkeypatch.setenv("CDP_HOME", str(fresh.home))
    shown = CliRunner().invoke(cli, ["profile", "show", "email:x@example.com"])
    assert shown.exit_code == 2
    assert "in clear" in shown.output or "HASH_KEY" in shown.output


def test_the_state_is_checked_at_the_first_read_when_postgres_was_down_at_start(
    fresh: Settings,
) -> None:
    down = create_engine(
        fresh.model_copy(
            update={"database_url": SecretStr(f"postgresql://cdp@127.0.0.1:{free_port()}/cdp")}
        ),
        pool_size=1,
    )
    up = create_engine(fresh, pool_size=1)
    try:
        gate = PiiStateGate(fresh)
        gate.check_at_start(down)
        deferred = not gate.checked
        gate.check(up)
        assert deferred
        assert gate.checked
        with up.connect() as conn:
            recorded = conn.execute(sa.text("SELECT encrypted FROM pii_state")).scalar_one()
        assert recorded is True
    finally:
        down.dispose()
        up.dispose()


def test_a_product_name_sealed_before_property_names_existed_still_reads_in_clear(
    fresh: Settings,
) -> None:
    """Timelines written before `Settings.pii_property_names` hold a product's ``name``
    sealed; it opens like any sealed string, beside one written in clear since."""
    email = f"cy.{uuid.uuid4().hex[:8]}@example.com"
    pid = seed(fresh, email)
    product = {"name": "Blue Mug", "email": email}
    old, new = seal(fresh, product), seal_properties(fresh, product)
    assert old["name"].startswith(SEALED_PREFIX)
    assert new["name"] == "Blue Mug"
    assert new["email"].startswith(SEALED_PREFIX)
    with psycopg.connect(fresh.database_dsn(), autocommit=True) as conn:
        for n, properties in enumerate((old, new)):
            conn.execute(
                "INSERT INTO events (profile_id, message_id, type, name, event_time, "
                "received_at, properties, context) VALUES (%s, %s, 'track', 'Product Viewed', "
                "%s, %s, %s, '{}')",
                (pid, f"pv-{n}", T0, T0, psycopg.types.json.Jsonb(properties)),
            )

    with TestClient(create_api(fresh)) as client:
        events = client.get(f"/v1/profiles/email:{email}/events", headers=AUTH)

    assert events.status_code == 200, events.text
    viewed = [e["properties"] for e in events.json()["events"] if e["type"] == "track"]
    assert viewed == [product, product]
