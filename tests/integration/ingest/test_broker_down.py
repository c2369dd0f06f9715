"""The broker going away: the SDK is told to retry (503), and its retry delivers every event once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from cdp.embedded import EmbeddedBroker
from cdp.kafka import TopicSpec, ensure_topics
from cdp.settings import Settings, Topics
from tests.conftest import wait_for
from tests.integration.conftest import CollectorThread, RunningCollector
from tests.integration.ingest.test_collector import post
from tests.kafka_helpers import read_all

pytestmark = pytest.mark.integration


@pytest.fixture
def isolated(base_settings: Settings, own_broker: EmbeddedBroker) -> Iterator[RunningCollector]:
    settings = base_settings.model_copy(
        update={
            "kafka_bootstrap_servers": own_broker.bootstrap_servers,
            "topics": Topics(raw="down.raw", dlq="down.dlq"),
            "producer_delivery_timeout_ms": 3000,
        }
    )
    create_topics(settings)
    with CollectorThread(settings) as running:
        yield running


def create_topics(settings: Settings) -> None:
    ensure_topics(settings, [TopicSpec(settings.topics.raw, 3), TopicSpec(settings.topics.dlq, 1)])


def test_broker_down_gives_503_and_the_retry_delivers_every_event_once(
    isolated: RunningCollector, own_broker: EmbeddedBroker, write_key: str
) -> None:
    batch = {
        "batch": [
            {"type": "track", "userId": f"u{i}", "event": "e", "messageId": f"retry-{i}"}
            for i in range(20)
        ]
    }

    own_broker.stop(kill=True)
    refused = post(isolated, "/v1/batch", batch, write_key)

    assert refused.status_code == 503
    assert refused.json()["code"] == "unavailable"
    assert int(refused.headers["Retry-After"]) >= 1
    assert httpx.get(f"{isolated.url}/readyz").status_code == 503

    own_broker.start()
    create_topics(isolated.settings)

    refusals: list[str] = []

    def sdk_retry() -> httpx.Response | None:
        r = post(isolated, "/v1/batch", batch, write_key)
        assert r.status_code in (200, 503), r.text
        if r.status_code == 503:
            refusals.append(r.json()["message"])
        return r if r.status_code == 200 else None

    try:
        wait_for(sdk_retry, timeout=60, interval=0.5, what="the retried batch to be accepted")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the collector's refusals: {Counter(refusals)}") from exc
    delivered = Counter(
        rec.value["message_id"] for rec in read_all(isolated.settings, isolated.settings.topics.raw)
    )
    assert delivered == Counter({f"retry-{i}": 1 for i in range(20)})
