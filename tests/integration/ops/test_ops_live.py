"""The ops views on a real broker and Postgres: lag after processing, and DLQ replay to raw."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import date

import pytest
import sqlalchemy as sa
from confluent_kafka import Producer
from fastapi.testclient import TestClient
from pydantic import SecretStr

from cdp.activation.destinations.config import Destination, WebhookChannel
from cdp.activation.destinations.store import apply_destinations
from cdp.db import create_engine
from cdp.deadletter import DeadLetter, encode_dead_letter
from cdp.ops import segment_history
from cdp.profiles.api import create_api
from cdp.schemas import EVENT, codec_for
from cdp.settings import Settings
from tests.integration.profiles.conftest import EventSender, RunningProcessor
from tests.kafka_helpers import read_all

pytestmark = pytest.mark.integration

TOKEN = "ops-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def client(pipeline_settings: Settings) -> Iterator[TestClient]:
    settings = pipeline_settings.model_copy(update={"api_token": SecretStr(TOKEN)})
    with TestClient(create_api(settings)) as client:
        yield client


def test_the_overview_reads_ends_past_multi_record_batches_and_zero_lag(
    client: TestClient,
    sender: EventSender,
    processor: RunningProcessor,
    processed: Callable[[], None],
) -> None:
    """Sent in one flush, the events share batches: the Tansu watermark alone would under-count."""
    user = f"u-{uuid.uuid4().hex[:8]}"
    sender.send(*({"type": "track", "event": f"E{i}", "userId": user} for i in range(25)))
    processed()
    body = client.get("/v1/ops/overview", headers=AUTH).json()
    assert body["produced"] == 25
    assert body["applied"] == 25
    raw = [r for r in body["lag"] if r["topic"] == sender.settings.topics.raw]
    assert raw
    assert sum(r["end"] for r in raw) == 25
    assert all(r["lag"] == 0 for r in raw)
    assert body["profiles"] == 1
    assert body["destinations"] is None or isinstance(body["destinations"], list)


def put_letters(settings: Settings, letters: list[DeadLetter]) -> None:
    codec = codec_for(settings)
    producer = Producer(settings.kafka_config(**{"linger.ms": 5}))
    for letter in letters:
        producer.produce(settings.topics.dlq, encode_dead_letter(codec, letter))
    assert producer.flush(10) == 0


def test_replay_puts_fixed_letters_back_on_raw_and_refuses_the_still_invalid(
    client: TestClient, pipeline_settings: Settings
) -> None:
    codec = codec_for(pipeline_settings)
    processor_raw = codec.encode(
        EVENT,
        {
            "message_id": "m-proc",
            "type": "track",
            "source_id": "s",
            "user_id": "u-proc",
            "anonymous_id": None,
            "event": "Order Completed",
            "name": None,
            "group_id": None,
            "previous_id": None,
            "timestamp": 1_800_000_000_000,
            "received_at": 1_800_000_000_000,
            "sent_at": None,
            "original_timestamp": None,
            "properties": "{}",
            "traits": "{}",
            "context": "{}",
            "integrations": "{}",
            "extra": "{}",
        },
    )
    put_letters(
        pipeline_settings,
        [
            DeadLetter("collector", "missing_event", "no event", b'{"userId":"u1"}', "s", None, "/v1/track"),
            DeadLetter("collector", "old_rule", "fixed since", b'{"userId":"u2","event":"Signed Up"}', "s", None, "/v1/track"),
            DeadLetter("processor", "processing_failed", "db hiccup", processor_raw, "s", "m-proc"),
        ],
    )  # fmt: skip
    listed = client.get("/v1/ops/dlq", headers=AUTH).json()
    assert listed["total"] == 3
    assert {x["reason"] for x in listed["letters"]} == {
        "missing_event",
        "old_rule",
        "processing_failed",
    }
    fixed = next(x for x in listed["letters"] if x["reason"] == "old_rule")
    one = client.post(
        "/v1/ops/dlq/replay",
        json={"partition": fixed["partition"], "offset": fixed["offset"]},
        headers=AUTH,
    ).json()
    assert one == {"replayed": [{"partition": 0, "offset": fixed["offset"]}], "refused": []}
    [replayed] = read_all(pipeline_settings, pipeline_settings.topics.raw)
    assert (replayed.value["user_id"], replayed.value["event"]) == ("u2", "Signed Up")
    assert replayed.key == b"u2"

    everything = client.post("/v1/ops/dlq/replay", json={"all": True}, headers=AUTH).json()
    assert len(everything["replayed"]) == 2
    [refused] = everything["refused"]
    assert "missing_event" in refused["reason"]
    raw = read_all(pipeline_settings, pipeline_settings.topics.raw)
    assert sorted(r.value["message_id"] for r in raw) == sorted(
        [replayed.value["message_id"], replayed.value["message_id"], "m-proc"]
    )
    assert next(r for r in raw if r.value["message_id"] == "m-proc").key == b"u-proc"


def test_a_letter_that_is_not_there_is_a_404_naming_it(client: TestClient) -> None:
    response = client.post("/v1/ops/dlq/replay", json={"partition": 0, "offset": 99}, headers=AUTH)
    assert response.status_code == 404
    assert "no dead letter" in response.json()["message"]


def test_segment_history_counts_current_members_by_the_day_they_joined(
    pipeline_settings: Settings,
) -> None:
    engine = create_engine(pipeline_settings, pool_size=1)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO segment_memberships (slug, profile_id, version, since) VALUES "
                    "('vip', 1, 1, '2026-01-01T10:00Z'), ('vip', 2, 1, '2026-03-02T10:00Z'), "
                    "('vip', 3, 1, '2026-03-04T23:00Z'), ('new', 4, 1, '2026-03-04T01:00Z')"
                )
            )
        history = segment_history(engine, 4, today=date(2026, 3, 4))
    finally:
        engine.dispose()
    assert history["days"] == ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"]
    assert history["series"] == {"new": [0, 0, 0, 1], "vip": [1, 2, 2, 3]}


def test_destinations_show_with_their_counts_and_never_their_secrets(
    client: TestClient, pipeline_settings: Settings
) -> None:
    assert client.get("/v1/ops/overview", headers=AUTH).json()["destinations"] == []
    secret = "s3cr3t-never-shown"
    crm = Destination(
        name="crm",
        segments=["buyers"],
        channel=WebhookChannel(url="http://127.0.0.1:9/hook", secret=SecretStr(secret)),
    )
    engine = create_engine(pipeline_settings, pool_size=1)
    try:
        apply_destinations(engine, [crm])
    finally:
        engine.dispose()
    response = client.get("/v1/ops/overview", headers=AUTH)
    assert secret not in response.text
    assert response.json()["destinations"] == [
        {
            "name": "crm",
            "channel": "webhook",
            "enabled": True,
            "delivered": 0,
            "retrying": 0,
            "aborted": 0,
            "suppressed": 0,
            "last_error": None,
        }
    ]
