"""The `/v1/ops` routes and `/console` files, with Kafka and Postgres replaced by fakes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

import cdp.ops.api as ops_api
from cdp.ops.deadletters import Letter
from cdp.ops.errors import OpsError
from cdp.profiles.api import create_api
from cdp.settings import Settings

TOKEN = "unit-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SETTINGS = Settings(
    api_token=SecretStr(TOKEN),
    database_url=SecretStr("postgresql://nobody@127.0.0.1:1/none"),
    kafka_bootstrap_servers="127.0.0.1:1",
)


class FakeConsumer:
    def close(self) -> None:
        pass


def fake_letter(offset: int, stage: str = "collector") -> Letter:
    return Letter(
        0,
        offset,
        {"stage": stage, "reason": "missing_event", "message": "m", "payload": b'{"a":1}'},
    )


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setattr(ops_api, "ops_consumer", lambda _settings: FakeConsumer())
    with TestClient(create_api(SETTINGS)) as client:
        yield client


def test_every_ops_route_needs_the_bearer_token(client: TestClient) -> None:
    for method, path in [
        ("GET", "/v1/ops/overview"),
        ("GET", "/v1/ops/dlq"),
        ("GET", "/v1/ops/segments/history"),
        ("POST", "/v1/ops/dlq/replay"),
    ]:
        response = client.request(method, path, headers={"Authorization": "Bearer wrong"})
        assert response.status_code == 401, path
        assert response.json()["code"] == "unauthorized"


def test_the_overview_is_what_the_ops_views_read(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshot = {"at": 1.0, "produced": 3, "applied": 2, "lag": [], "destinations": None}
    monkeypatch.setattr(ops_api, "overview", lambda _settings, _engine: snapshot)
    response = client.get("/v1/ops/overview", headers=AUTH)
    assert response.status_code == 200
    assert response.json() == snapshot


def test_an_unreadable_broker_is_a_503(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_settings: Settings, _engine: Any) -> dict[str, Any]:
        raise OpsError("no broker")

    monkeypatch.setattr(ops_api, "overview", broken)
    response = client.get("/v1/ops/overview", headers=AUTH)
    assert response.status_code == 503
    assert response.json() == {"code": "unavailable", "message": "no broker"}


def test_the_dlq_lists_the_newest_letters_up_to_the_limit(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[int] = []

    def read(_consumer: Any, _codec: Any, topic: str, newest: int) -> tuple[list[Letter], int]:
        assert topic == SETTINGS.topics.dlq
        asked.append(newest)
        return [fake_letter(9), fake_letter(8), fake_letter(7)], 40

    monkeypatch.setattr(ops_api, "read_letters", read)
    body = client.get("/v1/ops/dlq?limit=2", headers=AUTH).json()
    assert asked == [2]
    assert body["total"] == 40
    assert [x["offset"] for x in body["letters"]] == [9, 8]
    assert body["letters"][0]["payload"] == {"a": 1}


@pytest.mark.parametrize("limit", ["0", "1001", "ten", "-1"])
def test_a_bad_limit_is_a_400(client: TestClient, limit: str) -> None:
    response = client.get(f"/v1/ops/dlq?limit={limit}", headers=AUTH)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_limit"


@pytest.mark.parametrize(
    "body", [b"not json", b"{}", b'{"partition": 0}', b'{"all": "yes"}', b"[1, 2]"]
)
def test_a_replay_must_name_one_letter_or_all(client: TestClient, body: bytes) -> None:
    response = client.post("/v1/ops/dlq/replay", content=body, headers=AUTH)
    assert response.status_code == 400
    assert response.json()["code"] in {"invalid_json", "invalid_replay"}


def test_replaying_one_letter_reads_it_and_reports_what_was_replayed(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_at: list[tuple[int, int]] = []

    def read_one(_consumer: Any, _codec: Any, _topic: str, partition: int, offset: int) -> Letter:
        read_at.append((partition, offset))
        return fake_letter(offset)

    def replay(
        _settings: Settings, _codec: Any, letters: list[Letter]
    ) -> tuple[list[Letter], list[tuple[Letter, str]]]:
        return letters, []

    monkeypatch.setattr(ops_api, "read_letter", read_one)
    monkeypatch.setattr(ops_api, "replay_letters", replay)
    response = client.post("/v1/ops/dlq/replay", json={"partition": 0, "offset": 5}, headers=AUTH)
    assert response.status_code == 200
    assert read_at == [(0, 5)]
    assert response.json() == {"replayed": [{"partition": 0, "offset": 5}], "refused": []}


def test_replaying_all_reports_the_refused_with_their_reason(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    letters = [fake_letter(1), fake_letter(2, stage="delivery")]
    monkeypatch.setattr(ops_api, "read_letters", lambda *_args: (letters, 2))
    monkeypatch.setattr(
        ops_api,
        "replay_letters",
        lambda _s, _c, given: ([given[0]], [(given[1], "not replayable")]),
    )
    body = client.post("/v1/ops/dlq/replay", json={"all": True}, headers=AUTH).json()
    assert body == {
        "replayed": [{"partition": 0, "offset": 1}],
        "refused": [{"partition": 0, "offset": 2, "reason": "not replayable"}],
    }


def test_the_console_is_served_without_a_key_and_its_modules_load(client: TestClient) -> None:
    assert client.get("/console", follow_redirects=False).headers["location"] == "/console/"
    page = client.get("/console/")
    assert page.status_code == 200
    assert 'src="app.js"' in page.text
    for module in ("app.js", "api.js", "customer.js", "health.js", "dlq.js", "segments.js"):
        response = client.get(f"/console/{module}")
        assert response.status_code == 200, module
        assert "javascript" in response.headers["content-type"]
    assert client.get("/console/missing.js").status_code == 404
