"""`/v1/segments` over real HTTP, against the real Postgres and broker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

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


def definition(slug: str, value: str = "gold") -> dict[str, Any]:
    return {
        "slug": slug,
        "name": f"Plan {value}",
        "condition": {"trait": {"name": "plan", "op": "eq", "value": value}},
    }


def test_create_replace_read_delete(api: str) -> None:
    slug = f"api-{uuid.uuid4().hex[:8]}"
    created = httpx.post(f"{api}/v1/segments", json=definition(slug), headers=AUTH)
    assert created.status_code == 201, created.text
    assert created.json() == {"slug": slug, "action": "created", "version": 1}
    assert httpx.post(f"{api}/v1/segments", json=definition(slug), headers=AUTH).status_code == 409

    same = httpx.put(f"{api}/v1/segments/{slug}", json=definition(slug), headers=AUTH)
    assert same.json()["action"] == "unchanged"
    changed = httpx.put(
        f"{api}/v1/segments/{slug}", json=definition(slug, "platinum"), headers=AUTH
    )
    assert changed.status_code == 200
    assert changed.json() == {"slug": slug, "action": "updated", "version": 2}

    read = httpx.get(f"{api}/v1/segments/{slug}", headers=AUTH).json()
    assert read["version"] == 2
    assert read["state"] == "active"
    assert any(
        s["slug"] == slug for s in httpx.get(f"{api}/v1/segments", headers=AUTH).json()["segments"]
    )

    assert httpx.delete(f"{api}/v1/segments/{slug}", headers=AUTH).status_code == 200
    gone = httpx.delete(f"{api}/v1/segments/{slug}", headers=AUTH)
    assert gone.status_code == 404
    assert gone.json()["code"] == "not_found"


def test_an_invalid_definition_is_refused_with_the_bad_part_named(api: str) -> None:
    bad = {
        "slug": "bad-op",
        "name": "x",
        "condition": {"all": [{"trait": {"name": "plan", "op": "greater", "value": 1}}]},
    }
    r = httpx.post(f"{api}/v1/segments", json=bad, headers=AUTH)
    assert r.status_code == 400
    assert r.json()["code"] == "invalid_segment"
    assert "condition.all[0].trait.op" in r.json()["message"]


def test_path_and_body_slug_must_agree(api: str) -> None:
    r = httpx.put(f"{api}/v1/segments/one", json=definition("two"), headers=AUTH)
    assert r.status_code == 400


def test_preview_counts_without_saving(api: str) -> None:
    slug = f"preview-{uuid.uuid4().hex[:8]}"
    r = httpx.post(
        f"{api}/v1/segments/preview", json=definition(slug, f"none-{slug}"), headers=AUTH
    )
    assert r.status_code == 200
    assert r.json() == {"size": 0, "sample": []}
    assert httpx.get(f"{api}/v1/segments/{slug}", headers=AUTH).status_code == 404


def test_segments_need_the_token(api: str) -> None:
    assert httpx.get(f"{api}/v1/segments").status_code == 401
    assert httpx.post(f"{api}/v1/segments", json=definition("x")).status_code == 401


def test_a_pii_trait_can_only_be_tested_for_existence(api: str) -> None:
    slug = f"pii-{uuid.uuid4().hex[:8]}"
    contains = {
        "slug": slug,
        "name": "Gmail",
        "condition": {"trait": {"name": "email", "op": "contains", "value": "@gmail.com"}},
    }
    refused = httpx.post(f"{api}/v1/segments", json=contains, headers=AUTH)
    assert refused.status_code == 400
    assert refused.json()["code"] == "invalid_segment"
    assert (
        "trait 'email' is PII (CDP_PII_TRAITS) and encrypted at rest" in refused.json()["message"]
    )
    exists = {**contains, "condition": {"trait": {"name": "email", "op": "exists"}}}
    created = httpx.post(f"{api}/v1/segments", json=exists, headers=AUTH)
    assert created.status_code == 201, created.text
    assert httpx.delete(f"{api}/v1/segments/{slug}", headers=AUTH).status_code == 200
