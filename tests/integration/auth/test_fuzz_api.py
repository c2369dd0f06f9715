"""Fuzzing the profile and segment APIs: no 500, no hang, and injection attempts are inert.

Hypothesis drives the in-process app against the real Postgres; every answer must be a JSON
refusal (4xx) or a result, never a server error, and an injection attempt must never reach SQL as
code (the tables are checked afterwards).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from cdp.activation.api import MAX_DEFINITION_BYTES
from cdp.auth import Role
from tests.integration.auth.conftest import Person, bearer

pytestmark = pytest.mark.integration

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
INJECTIONS = [
    "' OR 1=1 --",
    "x' OR '1'='1",
    "1; DROP TABLE profiles; --",
    "1 OR 1=1",
    "'; SELECT pg_sleep(5); --",
    '" OR ""="',
    "1' UNION SELECT key_hash FROM api_keys --",
    "$1",
    "%s",
    ":value",
    "\\x00",
    "\x00",
    "a\x00b",
    "99999999999999999999999999",
    "-1",
    '{"$ne": null}',
    "../../etc/passwd",
    "🙂" * 50,
    "x" * 10_000,
]
ID_TYPES = ["email", "phone", "user_id", "anonymous_id", "profile_id", "' OR 1=1 --", "x"]
SUFFIXES = ["", "/traits", "/identifiers", "/merges", "/groups", "/events"]
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=30,
)
texts = st.text(max_size=60) | st.sampled_from(INJECTIONS)


def assert_no_server_error(response: Any) -> None:
    assert response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "psycopg" not in response.text
    assert "syntax error" not in response.text.lower()


def admin(role_keys: dict[Role, str]) -> dict[str, str]:
    return bearer(role_keys[Role.ADMIN])


@FUZZ
@given(
    id_type=st.sampled_from(ID_TYPES) | st.text(max_size=20),
    value=texts,
    suffix=st.sampled_from(SUFFIXES),
)
@example(id_type="\x00", value="0", suffix="")  # once a 500: NUL in the audit row's JSONB
@example(id_type="user_id", value="\x00", suffix="")  # once a 500: NUL sent to Postgres
def test_any_reference_is_answered_without_server_error(
    client: TestClient, role_keys: dict[Role, str], id_type: str, value: str, suffix: str
) -> None:
    ref = quote(f"{id_type}:{value}", safe="")
    response = client.get(f"/v1/profiles/{ref}{suffix}", headers=admin(role_keys))
    assert_no_server_error(response)
    assert response.status_code in (400, 404), response.text


@pytest.mark.parametrize("value", INJECTIONS)
@pytest.mark.parametrize("id_type", ["email", "user_id", "profile_id", "phone"])
def test_injection_in_identifiers_finds_no_one(
    client: TestClient,
    role_keys: dict[Role, str],
    person: Person,
    engine: Engine,
    id_type: str,
    value: str,
) -> None:
    started = time.monotonic()
    ref = quote(f"{id_type}:{value}", safe="")
    response = client.get(f"/v1/profiles/{ref}", headers=admin(role_keys))
    assert_no_server_error(response)
    assert response.status_code in (400, 404)
    assert time.monotonic() - started < 4, "pg_sleep must not run"
    with engine.connect() as conn:
        assert (
            conn.execute(
                sa.text("SELECT count(*) FROM profiles WHERE id = :p"), {"p": person.profile_id}
            ).scalar_one()
            == 1
        )


@FUZZ
@given(limit=st.none() | texts, cursor=st.none() | texts)
def test_any_events_paging_is_answered_without_server_error(
    client: TestClient,
    role_keys: dict[Role, str],
    person: Person,
    limit: str | None,
    cursor: str | None,
) -> None:
    params = {k: v for k, v in (("limit", limit), ("cursor", cursor)) if v is not None}
    response = client.get(
        f"/v1/profiles/user_id:{person.user_id}/events", params=params, headers=admin(role_keys)
    )
    assert_no_server_error(response)


@FUZZ
@given(body=json_values)
def test_any_json_as_a_segment_definition_is_answered_without_server_error(
    client: TestClient, role_keys: dict[Role, str], body: Any
) -> None:
    for path in ("/v1/segments/preview", "/v1/segments"):
        assert_no_server_error(client.post(path, json=body, headers=admin(role_keys)))


OPS = ["eq", "neq", "in", "contains", "starts_with", "gt", "gte", "lt", "lte", "exists", "between"]


@FUZZ
@given(
    kind=st.sampled_from(["trait", "computed", "group", "event"]),
    name=texts,
    op=st.sampled_from(OPS) | texts,
    value=json_values | st.sampled_from(INJECTIONS),
)
def test_injection_in_trait_names_and_values_is_inert(
    client: TestClient, role_keys: dict[Role, str], kind: str, name: str, op: str, value: Any
) -> None:
    leaf: dict[str, Any] = {"name": name, "op": op, "value": value}
    if kind == "event":
        leaf = {"name": name, "where": [{"property": name, "op": op, "value": value}]}
    definition = {"slug": "fuzz", "name": "Fuzz", "condition": {kind: leaf}}
    response = client.post("/v1/segments/preview", json=definition, headers=admin(role_keys))
    assert_no_server_error(response)
    assert response.status_code in (200, 400), response.text


@pytest.mark.parametrize("name", INJECTIONS)
def test_injection_as_a_trait_name_matches_nothing(
    client: TestClient, role_keys: dict[Role, str], name: str
) -> None:
    definition = {
        "slug": "inj",
        "name": "I",
        "condition": {"trait": {"name": name, "op": "exists"}},
    }
    response = client.post("/v1/segments/preview", json=definition, headers=admin(role_keys))
    assert_no_server_error(response)
    if response.status_code == 200:
        assert response.json()["size"] == 0


@FUZZ
@given(slug=texts)
@example(slug="\x00")  # once a 500
def test_any_slug_is_answered_without_server_error(
    client: TestClient, role_keys: dict[Role, str], slug: str
) -> None:
    path = f"/v1/segments/{quote(slug, safe='')}"
    assert_no_server_error(client.get(path, headers=admin(role_keys)))
    assert_no_server_error(client.delete(path, headers=admin(role_keys)))


DEPTH = 100_000


@pytest.mark.parametrize(
    "body",
    [
        b"[" * DEPTH + b"]" * DEPTH,
        b'{"a":' * DEPTH + b"1" + b"}" * DEPTH,
        (
            '{"slug":"deep","name":"D","condition":'
            + '{"not":' * 5000
            + '{"trait":{"name":"a","op":"exists"}}'
            + "}" * 5000
            + "}"
        ).encode(),
        b'{"slug":"huge","name":"' + b"x" * (20 * 1024 * 1024) + b'"}',
        b"\xff\xfe\x00garbage",
    ],
    ids=["deep-array", "deep-object", "deep-not", "huge", "not-utf8"],
)
@pytest.mark.parametrize("path", ["/v1/segments/preview", "/v1/segments", "/v1/segments/deep"])
def test_deep_huge_or_garbage_bodies_are_refused_quickly(
    client: TestClient, role_keys: dict[Role, str], body: bytes, path: str
) -> None:
    started = time.monotonic()
    method = "PUT" if path.endswith("/deep") else "POST"
    response = client.request(
        method, path, content=body, headers={**admin(role_keys), "content-type": "application/json"}
    )
    assert_no_server_error(response)
    assert 400 <= response.status_code < 500
    if len(body) > MAX_DEFINITION_BYTES:
        assert response.status_code == 413
    assert time.monotonic() - started < 10
