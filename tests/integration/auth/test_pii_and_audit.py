"""PII masked without `pii:read` and clear with it; every profile read and segment write audited."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from cdp.audit import audit_entries
from cdp.auth import Role, create_key
from cdp.auth.pii import MASK
from cdp.privacy.atrest import SEALED_PREFIX
from tests.integration.auth.conftest import Person, bearer

pytestmark = pytest.mark.integration

ENDPOINTS = ["", "/traits", "/identifiers", "/groups", "/merges", "/events"]


def clear_values(person: Person) -> list[str]:
    return [person.email, person.phone, person.first_name, person.street, person.company]


@pytest.mark.parametrize("suffix", ENDPOINTS)
def test_pii_is_masked_without_pii_read(
    client: TestClient, person: Person, reader_key: tuple[str, str], suffix: str
) -> None:
    response = client.get(
        f"/v1/profiles/user_id:{person.user_id}{suffix}", headers=bearer(reader_key[1])
    )
    assert response.status_code == 200, response.text
    for value in clear_values(person):
        assert value not in response.text
    assert SEALED_PREFIX not in response.text, "values are opened, then masked"


def test_masked_shapes(client: TestClient, person: Person, reader_key: tuple[str, str]) -> None:
    body: dict[str, Any] = client.get(
        f"/v1/profiles/user_id:{person.user_id}", headers=bearer(reader_key[1])
    ).json()
    assert body["traits"]["email"] == f"j***@{person.email.split('@')[1]}"
    assert body["traits"]["firstName"] == MASK
    assert body["traits"]["address"] == {"street": MASK, "city": MASK}
    assert body["traits"]["plan"] == "gold", "traits that are not PII stay readable"
    values = {i["type"]: i["value"] for i in body["identifiers"]}
    assert values["user_id"] == person.user_id, "a user id is not a configured PII identifier"
    assert values["phone"].startswith(person.phone[:3])
    assert values["phone"].endswith(person.phone[-2:])
    assert "*" in values["phone"]


@pytest.mark.parametrize("suffix", ["", "/traits", "/identifiers", "/groups"])
def test_pii_is_clear_with_pii_read(
    client: TestClient, person: Person, pii_key: tuple[str, str], suffix: str
) -> None:
    response = client.get(f"/v1/profiles/email:{person.email}{suffix}", headers=bearer(pii_key[1]))
    assert response.status_code == 200, response.text
    assert MASK not in response.text
    assert SEALED_PREFIX not in response.text
    shown = [v for v in clear_values(person) if v in response.text]
    assert shown, "the person's PII is shown decrypted"


def test_preview_sample_is_masked_without_pii_read_and_audited(
    client: TestClient,
    engine: Engine,
    person: Person,
    reader_key: tuple[str, str],
    pii_key: tuple[str, str],
) -> None:
    definition = {
        "slug": "preview-pii",
        "name": "Me",
        "condition": {"trait": {"name": "cohort", "op": "eq", "value": person.cohort}},
    }
    masked = client.post("/v1/segments/preview", json=definition, headers=bearer(reader_key[1]))
    clear = client.post("/v1/segments/preview", json=definition, headers=bearer(pii_key[1]))
    assert masked.json()["size"] == clear.json()["size"] == 1
    assert person.email not in masked.text
    assert person.email in clear.text, "the sample's sealed traits are opened, then masked"
    assert person.first_name in clear.text
    with engine.connect() as conn:
        previews = [
            e
            for e in audit_entries(conn, limit=500)
            if e["action"] == "segment.preview" and e["actor"] in (reader_key[0], pii_key[0])
        ]
    assert {(e["actor"], e["detail"]["pii"]) for e in previews} == {
        (reader_key[0], False),
        (pii_key[0], True),
    }
    assert all(e["detail"]["sampled"] == [str(person.profile_id)] for e in previews)


def test_every_profile_read_is_audited(
    client: TestClient, engine: Engine, person: Person, reader_key: tuple[str, str]
) -> None:
    key_id, secret = reader_key
    for suffix in ENDPOINTS:
        client.get(f"/v1/profiles/phone:{person.phone}{suffix}", headers=bearer(secret))
    client.get("/v1/profiles/email:nobody-at-all@example.com", headers=bearer(secret))
    with engine.connect() as conn:
        mine = [e for e in audit_entries(conn, limit=500) if e["actor"] == key_id]
    reads = [e for e in mine if e["target"] == f"profile:{person.profile_id}"]
    assert sorted(e["detail"]["endpoint"] for e in reads[:6]) == sorted(
        ["profile", "traits", "identifiers", "groups", "merges", "events"]
    )
    assert all(e["action"] == "profile.read" and e["outcome"] == "ok" for e in reads)
    assert all(e["detail"] == {**e["detail"], "by": "phone", "pii": False} for e in reads[:6])
    assert any(e["target"] == "profile:none" and e["outcome"] == "not_found" for e in mine)
    with engine.connect() as conn:
        dump = " ".join(str(r) for r in conn.execute(sa.text("SELECT * FROM audit_log")))
    assert person.email not in dump
    assert person.phone not in dump, "the audit log names profiles, not their identifiers"


def test_segment_writes_and_refusals_are_audited(client: TestClient, engine: Engine) -> None:
    writer, secret = create_key(engine, f"writer-{uuid.uuid4().hex[:8]}", [Role.SEGMENTS_WRITE])
    slug = f"audited-{uuid.uuid4().hex[:8]}"
    body = {"name": "A", "condition": {"trait": {"name": "plan", "op": "eq", "value": "gold"}}}
    assert client.put(f"/v1/segments/{slug}", json=body, headers=bearer(secret)).status_code == 201
    assert client.delete(f"/v1/segments/{slug}", headers=bearer(secret)).status_code == 200
    assert client.delete(f"/v1/segments/{slug}", headers=bearer(secret)).status_code == 404
    assert client.get("/v1/segments", headers=bearer(secret)).status_code == 403
    with engine.connect() as conn:
        mine = [e for e in audit_entries(conn, limit=500) if e["actor"] == writer.key_id]
    outcomes = [(e["action"], e["target"], e["outcome"]) for e in reversed(mine)]
    assert outcomes == [
        ("segment.write", f"segment:{slug}", "created"),
        ("segment.write", f"segment:{slug}", "deleted"),
        ("segment.write", f"segment:{slug}", "not_found"),
        ("auth.denied", "GET /v1/segments", "forbidden"),
    ]


def test_preview_refuses_comparing_an_encrypted_trait_and_allows_exists(
    client: TestClient, person: Person, pii_key: tuple[str, str]
) -> None:
    compare = {
        "slug": "preview-email",
        "name": "By email",
        "condition": {"trait": {"name": "email", "op": "eq", "value": person.email}},
    }
    refused = client.post("/v1/segments/preview", json=compare, headers=bearer(pii_key[1]))
    assert refused.status_code == 400, refused.text
    assert refused.json()["code"] == "invalid_segment"
    assert "email" in refused.json()["message"]

    exists = {
        "slug": "preview-email",
        "name": "Has email",
        "condition": {
            "all": [
                {"trait": {"name": "email", "op": "exists"}},
                {"trait": {"name": "cohort", "op": "eq", "value": person.cohort}},
            ]
        },
    }
    allowed = client.post("/v1/segments/preview", json=exists, headers=bearer(pii_key[1]))
    assert allowed.status_code == 200, allowed.text
    [sampled] = allowed.json()["sample"]
    assert sampled["traits"]["email"] == person.email
