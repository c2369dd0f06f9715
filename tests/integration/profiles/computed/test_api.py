"""`/v1/computed-traits` over real HTTP, against the real Postgres, behind the bearer token."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from cdp.settings import Settings
from tests.integration.profiles.test_api import ApiThread

pytestmark = pytest.mark.integration

AUTH = {"Authorization": "Bearer changethis"}


@pytest.fixture(scope="module")
def api(base_settings: Settings) -> Iterator[str]:
    with ApiThread(base_settings) as url:
        yield url


def test_create_replace_read_delete(api: str) -> None:
    name = f"ltv_{uuid.uuid4().hex[:8]}"
    body = {"name": name, "kind": "sum", "property": "revenue"}
    assert httpx.post(f"{api}/v1/computed-traits", json=body).status_code == 401
    created = httpx.post(f"{api}/v1/computed-traits", json=body, headers=AUTH)
    assert created.status_code == 201, created.text
    assert created.json() == {"name": name, "action": "created", "version": 1}
    assert httpx.post(f"{api}/v1/computed-traits", json=body, headers=AUTH).status_code == 409
    same = httpx.put(f"{api}/v1/computed-traits/{name}", json=body, headers=AUTH)
    assert same.json()["action"] == "unchanged"
    windowed = {**body, "window": {"days": 30}}
    changed = httpx.put(f"{api}/v1/computed-traits/{name}", json=windowed, headers=AUTH)
    assert changed.json() == {"name": name, "action": "updated", "version": 2}
    read = httpx.get(f"{api}/v1/computed-traits/{name}", headers=AUTH).json()
    assert read["definition"]["window"] == {"days": 30}
    assert httpx.delete(f"{api}/v1/computed-traits/{name}", headers=AUTH).status_code == 200
    assert httpx.delete(f"{api}/v1/computed-traits/{name}", headers=AUTH).status_code == 404


def test_an_invalid_definition_is_refused_with_the_bad_part_named(api: str) -> None:
    bad = {"name": "x", "kind": "counter", "event": {"where": [{"property": "p", "op": "near"}]}}
    r = httpx.post(f"{api}/v1/computed-traits", json=bad, headers=AUTH)
    assert r.status_code == 400
    assert r.json()["code"] == "invalid_trait"
    assert "event.where[0].op" in r.json()["message"]
