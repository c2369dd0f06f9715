"""The collector over real HTTP, reading what it produced back from the real broker."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from tests.integration.conftest import RunningCollector
from tests.kafka_helpers import read_all

pytestmark = pytest.mark.integration


def post(
    collector: RunningCollector, path: str, body: Any, write_key: str | None, **kw: Any
) -> httpx.Response:
    auth = (write_key, "") if write_key else None
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    headers = {"Content-Type": "application/json", **kw.pop("headers", {})}
    return httpx.post(
        f"{collector.url}{path}", content=content, auth=auth, headers=headers, timeout=30, **kw
    )


def json_fields(value: dict[str, Any]) -> dict[str, Any]:
    return {
        k: orjson.loads(value[k])
        for k in ("properties", "traits", "context", "integrations", "extra")
    }


def test_track_lands_on_raw_topic_keyed_by_user_id(
    collector: RunningCollector, write_key: str
) -> None:
    r = post(
        collector,
        "/v1/track",
        {"userId": "u-1", "event": "Order Completed", "properties": {"revenue": 42}},
        write_key,
    )

    assert r.status_code == 200
    assert r.json()["success"] is True
    [record] = read_all(collector.settings, collector.settings.topics.raw)
    assert record.key == b"u-1"
    assert record.value["type"] == "track"
    assert record.value["event"] == "Order Completed"
    assert json_fields(record.value)["properties"] == {"revenue": 42}
    assert record.value["message_id"]
    assert read_all(collector.settings, collector.settings.topics.dlq) == []


def test_batch_items_all_arrive_with_batch_context_merged(
    collector: RunningCollector, write_key: str
) -> None:
    batch = [
        {
            "type": "identify",
            "anonymousId": "a-1",
            "traits": {"email": "jane@example.com"},
            "messageId": "m-1",
        },
        {
            "type": "page",
            "anonymousId": "a-1",
            "name": "Home",
            "context": {"page": {"path": "/"}},
            "messageId": "m-2",
        },
        {
            "type": "screen",
            "userId": "u-2",
            "name": "Cart",
            "messageId": "m-3",
            "context": {"app": {"v": "2"}},
        },
        {"type": "group", "userId": "u-2", "groupId": "acme", "messageId": "m-4"},
        {"type": "alias", "userId": "u-2", "previousId": "a-1", "messageId": "m-5"},
    ]
    body = {
        "batch": batch,
        "context": {"library": {"name": "analytics-python"}, "app": {"v": "1"}},
        "integrations": {"All": True},
    }

    r = post(collector, "/v1/batch", body, write_key)

    assert r.status_code == 200
    records = {
        rec.value["message_id"]: rec
        for rec in read_all(collector.settings, collector.settings.topics.raw)
    }
    assert set(records) == {"m-1", "m-2", "m-3", "m-4", "m-5"}
    assert records["m-1"].key == b"a-1"
    assert records["m-3"].key == b"u-2"
    page_context = json_fields(records["m-2"].value)["context"]
    assert page_context["library"] == {"name": "analytics-python"}
    assert page_context["page"] == {"path": "/"}
    assert json_fields(records["m-3"].value)["context"]["app"] == {"v": "2"}, (
        "the item's own context wins"
    )
    assert json_fields(records["m-4"].value)["integrations"] == {"All": True}
    assert records["m-5"].value["previous_id"] == "a-1"
    assert records["m-4"].value["group_id"] == "acme"


def test_gzip_body_is_decoded_whatever_the_content_type(
    collector: RunningCollector, write_key: str
) -> None:
    body = gzip.compress(
        orjson.dumps(
            {"batch": [{"type": "track", "userId": "u", "event": "e", "messageId": "gz-1"}]}
        )
    )

    r = post(
        collector,
        "/v1/batch",
        body,
        write_key,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/x-www-form-urlencoded"},
    )

    assert r.status_code == 200
    [record] = read_all(collector.settings, collector.settings.topics.raw)
    assert record.value["message_id"] == "gz-1"


def test_rudderstack_import_and_write_key_in_body(
    collector: RunningCollector, write_key: str
) -> None:
    body = {
        "writeKey": write_key,
        "batch": [{"type": "track", "anonymousId": "a", "event": "Imported", "messageId": "imp-1"}],
    }

    r = post(collector, "/v1/import", body, None)

    assert r.status_code == 200
    [record] = read_all(collector.settings, collector.settings.topics.raw)
    assert record.value["message_id"] == "imp-1"
    assert record.value["anonymous_id"] == "a"


def test_clock_skew_is_removed_from_event_time(collector: RunningCollector, write_key: str) -> None:
    client_now = datetime.now(UTC) + timedelta(hours=3)
    item = {
        "userId": "u",
        "event": "Skewed",
        "timestamp": (client_now - timedelta(seconds=30)).isoformat(),
        "sentAt": client_now.isoformat(),
    }

    r = post(collector, "/v1/track", item, write_key)

    assert r.status_code == 200
    [record] = read_all(collector.settings, collector.settings.topics.raw)
    received = record.value["received_at"]
    assert record.value["timestamp"] == received - timedelta(seconds=30)


def test_missing_message_id_is_assigned_and_a_given_one_is_kept(
    collector: RunningCollector, write_key: str
) -> None:
    batch = [
        {"type": "track", "userId": "u", "event": "e"},
        {"type": "track", "userId": "u", "event": "e", "messageId": "keep-me"},
    ]

    post(collector, "/v1/batch", {"batch": batch}, write_key)

    ids = [
        r.value["message_id"] for r in read_all(collector.settings, collector.settings.topics.raw)
    ]
    assert "keep-me" in ids
    assert len(set(ids)) == 2
    assert all(ids)


def test_cors_preflight_is_answered_for_browser_trackers(collector: RunningCollector) -> None:
    r = httpx.options(
        f"{collector.url}/v1/batch",
        headers={"Origin": "https://shop.example.com", "Access-Control-Request-Method": "POST"},
    )

    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] in ("*", "https://shop.example.com")


def test_health_readiness_and_metrics(collector: RunningCollector, write_key: str) -> None:
    post(collector, "/v1/track", {"userId": "u", "event": "e"}, write_key)

    assert httpx.get(f"{collector.url}/healthz").status_code == 200
    ready = httpx.get(f"{collector.url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"kafka": True, "postgres": True}
    metrics = httpx.get(f"{collector.url}/metrics").text
    assert 'cdp_collector_events_total{outcome="accepted",reason=""}' in metrics
    assert "cdp_collector_produce_seconds_bucket" in metrics
    assert 'cdp_collector_requests_total{endpoint="track",status="200"}' in metrics


@pytest.mark.parametrize(
    ("path", "kind", "fields"),
    [
        ("/v1/t", "track", {"event": "Clicked"}),
        ("/v1/p", "page", {"name": "Home"}),
        ("/v1/i", "identify", {"traits": {"plan": "pro"}}),
        ("/v1/g", "group", {"groupId": "acme"}),
        ("/v1/a", "alias", {"previousId": "anon-1"}),
        ("/v1/s", "screen", {"name": "Cart"}),
    ],
)
def test_analytics_js_short_paths(
    collector: RunningCollector, write_key: str, path: str, kind: str, fields: dict[str, Any]
) -> None:
    body = {"userId": "u", "writeKey": write_key, **fields}

    r = post(collector, path, body, None, headers={"Content-Type": "text/plain"})

    assert r.status_code == 200
    [record] = read_all(collector.settings, collector.settings.topics.raw)
    assert record.value["type"] == kind


def test_analytics_js_batch_path(collector: RunningCollector, write_key: str) -> None:
    body = {
        "writeKey": write_key,
        "batch": [{"type": "track", "anonymousId": "a", "event": "e", "messageId": "b-1"}],
    }

    assert post(collector, "/v1/b", body, None).status_code == 200
    assert [
        r.value["message_id"] for r in read_all(collector.settings, collector.settings.topics.raw)
    ] == ["b-1"]
