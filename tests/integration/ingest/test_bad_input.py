"""Every kind of bad input: the answer, and exactly what reached the raw and dead-letter topics."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy.engine import Engine

from cdp.ingest import disable_source
from tests.integration.conftest import RunningCollector
from tests.integration.ingest.test_collector import post
from tests.kafka_helpers import read_all

pytestmark = pytest.mark.integration


def assert_error(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] == code
    assert isinstance(body["message"], str)
    assert body["message"]


def assert_nothing_published(collector: RunningCollector) -> None:
    assert read_all(collector.settings, collector.settings.topics.raw) == []
    assert read_all(collector.settings, collector.settings.topics.dlq) == []


def one_track(**extra: Any) -> dict[str, Any]:
    return {"type": "track", "userId": "u", "event": "e", **extra}


def test_unknown_write_key_is_401(collector: RunningCollector) -> None:
    assert_error(post(collector, "/v1/track", one_track(), "not-a-key"), 401, "unauthorized")
    assert_nothing_published(collector)


def test_missing_write_key_is_401(collector: RunningCollector) -> None:
    assert_error(post(collector, "/v1/track", one_track(), None), 401, "unauthorized")


def test_disabled_source_is_401(
    collector: RunningCollector, engine: Engine, source_factory: Callable[[], str]
) -> None:
    from cdp.ingest.sources import find_source

    key = source_factory()
    assert post(collector, "/v1/track", one_track(messageId="before"), key).status_code == 200
    source = find_source(engine, key)
    assert source is not None
    disable_source(engine, source.id)

    assert_error(
        post(collector, "/v1/track", one_track(messageId="after"), key), 401, "unauthorized"
    )
    ids = [
        r.value["message_id"] for r in read_all(collector.settings, collector.settings.topics.raw)
    ]
    assert ids == ["before"]


def test_invalid_json_is_400(collector: RunningCollector, write_key: str) -> None:
    assert_error(post(collector, "/v1/batch", b'{"batch": [', write_key), 400, "invalid_json")
    assert_nothing_published(collector)


def test_undecodable_gzip_is_400(collector: RunningCollector, write_key: str) -> None:
    r = post(
        collector,
        "/v1/batch",
        b"\x1f\x8bnot really gzip",
        write_key,
        headers={"Content-Encoding": "gzip"},
    )
    assert_error(r, 400, "invalid_gzip")
    assert_nothing_published(collector)


def test_single_event_over_32kb_is_400(collector: RunningCollector, write_key: str) -> None:
    r = post(collector, "/v1/track", one_track(properties={"blob": "x" * 33_000}), write_key)
    assert_error(r, 400, "event_too_large")
    assert read_all(collector.settings, collector.settings.topics.raw) == []


def test_batch_over_500kb_is_400(collector: RunningCollector, write_key: str) -> None:
    batch = [one_track(properties={"blob": "x" * 20_000}) for _ in range(30)]
    assert_error(post(collector, "/v1/batch", {"batch": batch}, write_key), 400, "batch_too_large")
    assert_nothing_published(collector)


def test_gzip_bomb_over_500kb_inflated_is_400(collector: RunningCollector, write_key: str) -> None:
    body = gzip.compress(orjson.dumps({"batch": [one_track(properties={"pad": "0" * 600_000})]}))
    assert len(body) < 10_000
    r = post(collector, "/v1/batch", body, write_key, headers={"Content-Encoding": "gzip"})
    assert_error(r, 400, "batch_too_large")
    assert_nothing_published(collector)


def test_batch_over_2500_items_is_400(collector: RunningCollector, write_key: str) -> None:
    batch = [{"type": "track", "userId": "u", "event": "e"} for _ in range(2501)]
    assert_error(post(collector, "/v1/batch", {"batch": batch}, write_key), 400, "too_many_events")
    assert_nothing_published(collector)


def test_too_deeply_nested_json_is_400(collector: RunningCollector, write_key: str) -> None:
    nested: Any = "leaf"
    for _ in range(200):
        nested = {"n": nested}
    assert_error(
        post(collector, "/v1/track", one_track(properties=nested), write_key),
        400,
        "too_deeply_nested",
    )
    assert_nothing_published(collector)


def test_batch_that_is_not_a_list_is_400(collector: RunningCollector, write_key: str) -> None:
    assert_error(
        post(collector, "/v1/batch", {"batch": {"type": "track"}}, write_key), 400, "invalid_batch"
    )


def test_unknown_path_answers_json_with_a_code(collector: RunningCollector) -> None:
    assert_error(httpx.post(f"{collector.url}/v1/nope"), 404, "not_found")


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"type": "track", "event": "no identity"}, "missing_identity"),
        (
            {"type": "track", "userId": "", "anonymousId": None, "event": "blank identity"},
            "missing_identity",
        ),
        ({"type": "track", "userId": "u"}, "missing_event"),
        ({"type": "alias", "userId": "u"}, "missing_previous_id"),
        ({"type": "group", "userId": "u"}, "missing_group_id"),
        ({"type": "purchase", "userId": "u"}, "unknown_type"),
        ({"userId": "u", "event": "no type"}, "missing_type"),
        (
            {"type": "track", "userId": "u", "event": "e", "timestamp": "yesterday"},
            "invalid_timestamp",
        ),
        ({"type": "track", "userId": "u", "event": "e", "properties": [1, 2]}, "invalid_field"),
        ({"type": "track", "userId": {"id": 1}, "event": "e"}, "invalid_identity"),
        (
            {"type": "track", "userId": "u", "event": "big", "properties": {"b": "x" * 33_000}},
            "event_too_large",
        ),
        ("just a string", "not_an_object"),
    ],
)
def test_bad_item_in_batch_is_dead_lettered_and_the_rest_accepted(
    collector: RunningCollector, write_key: str, item: Any, reason: str
) -> None:
    good = [one_track(messageId="good-1"), one_track(messageId="good-2")]
    r = post(collector, "/v1/batch", {"batch": [good[0], item, good[1]]}, write_key)

    assert r.status_code == 200
    assert r.json() == {"success": True, "accepted": 2, "rejected": 1}
    raw = read_all(collector.settings, collector.settings.topics.raw)
    assert sorted(rec.value["message_id"] for rec in raw) == ["good-1", "good-2"]
    [letter] = read_all(collector.settings, collector.settings.topics.dlq)
    assert letter.value["stage"] == "collector"
    assert letter.value["reason"] == reason
    assert letter.value["message"]
    assert orjson.loads(letter.value["payload"]) == item
    assert letter.value["source_id"].startswith("src_")


def test_invalid_single_message_is_400_and_dead_lettered(
    collector: RunningCollector, write_key: str
) -> None:
    r = post(collector, "/v1/track", {"event": "nobody", "messageId": "m-bad"}, write_key)

    assert_error(r, 400, "missing_identity")
    [letter] = read_all(collector.settings, collector.settings.topics.dlq)
    assert letter.value["reason"] == "missing_identity"
    assert letter.value["message_id"] == "m-bad"
    assert read_all(collector.settings, collector.settings.topics.raw) == []


def test_rejections_are_counted_by_reason(collector: RunningCollector, write_key: str) -> None:
    post(collector, "/v1/batch", {"batch": [{"type": "track", "userId": "u"}]}, write_key)
    post(collector, "/v1/batch", b"{", write_key)

    metrics = httpx.get(f"{collector.url}/metrics").text
    assert 'cdp_collector_events_total{outcome="rejected",reason="missing_event"}' in metrics
    assert 'cdp_collector_refused_requests_total{code="invalid_json"}' in metrics


def test_a_bad_basic_key_is_refused_before_the_body_is_read(collector: RunningCollector) -> None:
    assert_error(
        post(collector, "/v1/batch", b"\x1f\x8b garbage", "not-a-key"), 401, "unauthorized"
    )


def test_dead_letter_names_the_endpoint_so_the_type_can_be_recovered(
    collector: RunningCollector, write_key: str
) -> None:
    post(collector, "/v1/alias", {"userId": "u"}, write_key)

    [letter] = read_all(collector.settings, collector.settings.topics.dlq)
    assert letter.value["origin"] == "/v1/alias"
    assert letter.value["reason"] == "missing_previous_id"
