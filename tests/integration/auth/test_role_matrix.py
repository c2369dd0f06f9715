"""Every role against every route of the profile and segment APIs: allowed, 403, or 401.

The routes come from the app itself (its OpenAPI document), so a route added without an entry in
`EXPECTED` fails here, and one that forgets its `require` answers a keyless request without 401.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from cdp.auth import ROLES, Role
from cdp.auth.roles import grants
from cdp.profiles.api import create_api
from cdp.settings import Settings
from tests.integration.auth.conftest import bearer

pytestmark = pytest.mark.integration

EXPECTED: dict[tuple[str, str], Role] = {
    ("GET", "/v1/profiles/{ref}"): Role.PROFILES_READ,
    ("GET", "/v1/profiles/{ref}/traits"): Role.PROFILES_READ,
    ("GET", "/v1/profiles/{ref}/identifiers"): Role.PROFILES_READ,
    ("GET", "/v1/profiles/{ref}/merges"): Role.PROFILES_READ,
    ("GET", "/v1/profiles/{ref}/groups"): Role.PROFILES_READ,
    ("GET", "/v1/profiles/{ref}/events"): Role.PROFILES_READ,
    ("GET", "/v1/segments"): Role.PROFILES_READ,
    ("POST", "/v1/segments"): Role.SEGMENTS_WRITE,
    ("POST", "/v1/segments/preview"): Role.PROFILES_READ,
    ("GET", "/v1/segments/{slug}"): Role.PROFILES_READ,
    ("PUT", "/v1/segments/{slug}"): Role.SEGMENTS_WRITE,
    ("DELETE", "/v1/segments/{slug}"): Role.SEGMENTS_WRITE,
    ("GET", "/v1/profiles/{ref}/segments"): Role.PROFILES_READ,
    ("GET", "/v1/computed-traits"): Role.PROFILES_READ,
    ("POST", "/v1/computed-traits"): Role.SEGMENTS_WRITE,
    ("GET", "/v1/computed-traits/{name}"): Role.PROFILES_READ,
    ("PUT", "/v1/computed-traits/{name}"): Role.SEGMENTS_WRITE,
    ("DELETE", "/v1/computed-traits/{name}"): Role.SEGMENTS_WRITE,
    ("GET", "/v1/ops/overview"): Role.ADMIN,
    ("GET", "/v1/ops/segments/history"): Role.ADMIN,
    ("GET", "/v1/ops/dlq"): Role.ADMIN,
    ("POST", "/v1/ops/dlq/replay"): Role.ADMIN,
    ("POST", "/v1/privacy/export"): Role.PRIVACY_ADMIN,
    ("POST", "/v1/privacy/delete"): Role.PRIVACY_ADMIN,
    ("POST", "/v1/privacy/suppress"): Role.PRIVACY_ADMIN,
    ("POST", "/v1/privacy/consent"): Role.PRIVACY_ADMIN,
    ("GET", "/v1/privacy/requests/{request_id}"): Role.PRIVACY_ADMIN,
}
PUBLIC = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics")}


def _routes() -> list[tuple[str, str]]:
    """(method, path) of every operation of the app, as its OpenAPI document lists them."""
    paths: dict[str, dict[str, Any]] = create_api(Settings()).openapi()["paths"]
    return sorted((method.upper(), path) for path, ops in paths.items() for method in ops)


ROUTES = _routes()
PROTECTED = [k for k in ROUTES if k not in PUBLIC]
SLUG = "matrix-segment"


def call(client: TestClient, method: str, path: str, headers: dict[str, str]) -> Any:
    url = (
        path.replace("{ref}", "email:nobody-matrix@example.com")
        .replace("{slug}", SLUG)
        .replace("{request_id}", "999999999")
        .replace("{name}", "matrix_trait")
    )
    body = None
    if method in ("POST", "PUT"):
        body = {
            "slug": SLUG,
            "name": "Matrix",
            "condition": {"trait": {"name": "plan", "op": "eq", "value": "gold"}},
        }
    return client.request(method, url, headers=headers, json=body)


def test_every_route_is_public_or_has_an_expected_role() -> None:
    assert set(ROUTES) - PUBLIC == set(EXPECTED), "a route without an expected role, or one gone"


@pytest.mark.parametrize("role", ROLES, ids=str)
@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=" ".join)
def test_role_is_allowed_or_forbidden(
    client: TestClient, role_keys: dict[Role, str], role: Role, method: str, path: str
) -> None:
    response = call(client, method, path, bearer(role_keys[role]))
    if grants(frozenset({role}), EXPECTED[(method, path)]):
        assert response.status_code not in (401, 403), response.text
        assert response.status_code < 500, response.text
    else:
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "forbidden"
        assert EXPECTED[(method, path)].value in response.json()["message"]


UNAUTHENTICATED = {
    "no header": {},
    "basic": {"Authorization": "Basic Y2RwOmNkcA=="},
    "empty bearer": {"Authorization": "Bearer "},
    "not a key": {"Authorization": "Bearer nonsense"},
    "unknown key": bearer("cdp_0123456789ab_" + "A" * 43),
}


@pytest.mark.parametrize("headers", UNAUTHENTICATED.values(), ids=UNAUTHENTICATED.keys())
@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=" ".join)
def test_no_valid_key_is_401(
    client: TestClient, method: str, path: str, headers: dict[str, str]
) -> None:
    response = call(client, method, path, headers)
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path"), sorted(PUBLIC), ids=" ".join)
def test_public_routes_need_no_key(client: TestClient, method: str, path: str) -> None:
    assert call(client, method, path, {}).status_code == 200
