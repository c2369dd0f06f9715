"""API keys: hashed at rest, revocation applies at once, `cdp keys`, the bootstrap token."""

from __future__ import annotations

import hashlib
import re
import uuid

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from cdp.auth import Role, create_key, list_keys, revoke_key
from cdp.cli import app as cli
from cdp.embedded import free_port
from cdp.ingest.sources import create_source
from cdp.profiles.api import create_api
from cdp.settings import Settings
from tests.integration.auth.conftest import bearer

pytestmark = pytest.mark.integration

PROFILE = "/v1/profiles/user_id:nobody-keys"


def _dump(engine: Engine, table: str) -> str:
    with engine.connect() as conn:
        return " ".join(str(row) for row in conn.execute(sa.text(f"SELECT * FROM {table}")))


def test_keys_are_stored_only_as_hashes(engine: Engine, client: TestClient) -> None:
    key, secret = create_key(engine, f"hashed-{uuid.uuid4().hex[:8]}", [Role.ADMIN])
    assert client.get(PROFILE, headers=bearer(secret)).status_code == 404
    secret_part = secret.rsplit("_", 1)[1]
    for table in ("api_keys", "audit_log"):
        dump = _dump(engine, table)
        assert secret not in dump
        assert secret_part not in dump
    with engine.connect() as conn:
        stored = conn.execute(
            sa.text("SELECT key_hash FROM api_keys WHERE key_id = :k"), {"k": key.key_id}
        ).scalar_one()
    assert stored == hashlib.sha256(secret.encode()).hexdigest()


def test_a_revoked_key_is_refused_on_the_next_request(engine: Engine, client: TestClient) -> None:
    key, secret = create_key(engine, f"revoked-{uuid.uuid4().hex[:8]}", [Role.PROFILES_READ])
    assert client.get(PROFILE, headers=bearer(secret)).status_code == 404
    assert revoke_key(engine, key.key_id)
    refused = client.get(PROFILE, headers=bearer(secret))
    assert refused.status_code == 401
    assert refused.json()["code"] == "unauthorized"
    assert not revoke_key(engine, key.key_id), "revoking twice finds no active key"
    [listed] = [k for k in list_keys(engine) if k.key_id == key.key_id]
    assert not listed.active


def test_a_key_with_a_wrong_secret_for_a_real_id_is_refused(
    engine: Engine, client: TestClient
) -> None:
    _, secret = create_key(engine, f"forged-{uuid.uuid4().hex[:8]}", [Role.ADMIN])
    forged = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    assert client.get(PROFILE, headers=bearer(forged)).status_code == 401


def test_the_settings_token_is_a_bootstrap_admin_key(client: TestClient) -> None:
    token = Settings().api_token.get_secret_value()
    assert client.get(PROFILE, headers=bearer(token)).status_code == 404
    assert client.put(
        "/v1/segments/bootstrap-check",
        headers=bearer(token),
        json={"name": "B", "condition": {"trait": {"name": "plan", "op": "exists"}}},
    ).status_code in (200, 201)


def test_keys_cli_creates_lists_and_revokes(
    base_settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert base_settings.database_url is not None
    monkeypatch.setenv("CDP_DATABASE_URL", base_settings.database_url.get_secret_value())
    monkeypatch.setenv("CDP_HOME", str(base_settings.home))
    monkeypatch.setenv("COLUMNS", "400")
    runner = CliRunner()
    name = f"cli-{uuid.uuid4().hex[:6]}"
    source, _ = create_source(engine, f"src-{name}")

    created = runner.invoke(
        cli, ["keys", "create", "--name", name, "--role", "profiles:read", "--role", "pii:read"]
    )
    assert created.exit_code == 0, created.output
    secret = created.output.split("api key:")[1].strip()
    key_id = re.search(r"\((\w+)\)", created.output)
    assert key_id is not None

    listed = runner.invoke(cli, ["keys", "list"], terminal_width=250)
    assert listed.exit_code == 0, listed.output
    assert name in listed.output
    assert key_id[1] in listed.output
    assert secret not in listed.output, "a key is shown once, at creation"
    assert source.id in listed.output, "the collector's write keys are listed, as role ingest"

    assert runner.invoke(cli, ["keys", "create", "--name", name, "--role", "admin"]).exit_code == 2
    assert runner.invoke(cli, ["keys", "create", "--name", "x", "--role", "root"]).exit_code == 2
    assert runner.invoke(cli, ["keys", "create", "--name", "y", "--role", "ingest"]).exit_code == 2
    assert runner.invoke(cli, ["keys", "revoke", name]).exit_code == 0
    assert runner.invoke(cli, ["keys", "revoke", name]).exit_code == 2
    [revoked] = [k for k in list_keys(engine) if k.name == name]
    assert not revoked.active
    assert revoked.roles == {Role.PROFILES_READ, Role.PII_READ}


def test_a_stored_key_while_postgres_is_down_is_503_not_500(base_settings: Settings) -> None:
    closed = f"postgresql://cdp@127.0.0.1:{free_port()}/cdp"
    settings = base_settings.model_copy(update={"database_url": SecretStr(closed)})
    with TestClient(create_api(settings), raise_server_exceptions=False) as down:
        response = down.get(PROFILE, headers=bearer("cdp_0123456789ab_" + "A" * 43))
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "unavailable"
    assert response.headers["retry-after"]
