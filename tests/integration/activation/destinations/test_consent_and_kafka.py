"""The consent gate (no purpose, no delivery; revocation sends an exit) and the Kafka channel."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from sqlalchemy.engine import Engine

from cdp.activation.destinations.lag import destination_lag
from cdp.db.tables import destination_members, profiles
from cdp.settings import Settings
from tests.conftest import wait_for
from tests.integration.activation.destinations.conftest import (
    SECRET,
    Apply,
    Receiver,
    activation_process,
    change,
    publish,
    status_of,
)
from tests.integration.conftest import TopicFactory

pytestmark = pytest.mark.integration


def new_profile(engine: Engine, consent: dict[str, bool]) -> int:
    computed = {"consent": {p: {"granted": g, "at": 1} for p, g in consent.items()}}
    with engine.begin() as conn:
        return int(
            conn.execute(
                sa.insert(profiles)
                .values(traits={}, trait_times={}, computed=computed, merge_count=0)
                .returning(profiles.c.id)
            ).scalar_one()
        )


def set_consent(engine: Engine, profile_id: int, consent: dict[str, bool]) -> None:
    computed = {"consent": {p: {"granted": g, "at": 2} for p, g in consent.items()}}
    with engine.begin() as conn:
        conn.execute(
            sa.update(profiles).where(profiles.c.id == profile_id).values(computed=computed)
        )


def test_consent_gates_delivery_and_revocation_sends_an_exit(
    activation_settings: Settings, engine: Engine, receiver: Receiver, apply: Apply, tmp_path: Path
) -> None:
    gated, open_ = f"gated-{uuid.uuid4().hex[:6]}", f"open-{uuid.uuid4().hex[:6]}"
    channel: dict[str, Any] = {"type": "webhook", "secret": SECRET, "timeout_s": 2}
    apply(
        [
            {
                "name": gated,
                "segments": ["vip"],
                "consent": ["marketing", "analytics"],
                "channel": channel | {"url": receiver.url("/gated")},
            },
            {
                "name": open_,
                "segments": ["vip"],
                "channel": channel | {"url": receiver.url("/open")},
            },
        ]
    )
    both = new_profile(engine, {"marketing": True, "analytics": True})
    denied = new_profile(engine, {"marketing": False, "analytics": True})
    partial = new_profile(engine, {"marketing": True})
    undecided = new_profile(engine, {})
    entries = [change("vip", p) for p in (both, denied, partial, undecided)]
    stray_exit = change("vip", denied, "exited")
    with activation_process(activation_settings, tmp_path / "activation.log"):
        publish(activation_settings, [*entries, stray_exit])
        wait_for(lambda: len(receiver.received("/open")) == 5, timeout=60, what="open destination")
        wait_for(lambda: status_of(engine, gated).get("suppressed") == 4, timeout=30, what="gate")
        assert [h.body["profile_id"] for h in receiver.received("/gated")] == [both]
        set_consent(engine, both, {"marketing": True, "analytics": False})
        wait_for(lambda: len(receiver.received("/gated")) == 2, timeout=30, what="revocation exit")
    exit_hit = receiver.received("/gated")[1].body
    assert exit_hit["profile_id"] == both
    assert exit_hit["change"] == "exited"
    assert exit_hit["reason"] == "consent_revoked"
    with engine.connect() as conn:
        held = conn.execute(
            sa.select(sa.func.count()).where(destination_members.c.destination == gated)
        ).scalar_one()
    assert held == 0


def test_kafka_channel_produces_each_change_keyed_by_profile(
    activation_settings: Settings,
    engine: Engine,
    apply: Apply,
    topic_factory: TopicFactory,
    tmp_path: Path,
) -> None:
    out = topic_factory("out", 3)
    name = f"kafka-{uuid.uuid4().hex[:6]}"
    apply(
        [{"name": name, "segments": ["vip", "churn"], "channel": {"type": "kafka", "topic": out}}]
    )
    changes = [
        change(["vip", "churn", "x"][i % 3], 3000 + i % 5, traits={"n": i}) for i in range(30)
    ]
    with activation_process(activation_settings, tmp_path / "activation.log"):
        publish(activation_settings, changes)
        wait_for(lambda: status_of(engine, name).get("delivered") == 20, timeout=60, what="kafka")
        wait_for(
            lambda: destination_lag(activation_settings, [name]) == {name: 0},
            timeout=20,
            what="the destination's group to commit everything",
        )
    records = _read_json(activation_settings, out)
    wanted = [c for c in changes if c["segment"] != "x"]
    assert sorted(r[1]["change_id"] for r in records) == sorted(c["change_id"] for c in wanted)
    assert all(r[0] == str(r[1]["profile_id"]).encode() for r in records)
    by_id = {c["change_id"]: c for c in wanted}
    assert all(r[1]["traits"] == orjson.loads(by_id[r[1]["change_id"]]["traits"]) for r in records)


def _read_json(settings: Settings, topic: str) -> list[tuple[bytes | None, dict[str, Any]]]:
    consumer = Consumer(
        settings.kafka_config(**{"group.id": "t-read", "enable.partition.eof": True})
    )
    try:
        parts = list(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        pending, out = set(parts), []
        while pending:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    pending.discard(msg.partition())
                continue
            out.append((msg.key(), orjson.loads(msg.value() or b"null")))
        return out
    finally:
        consumer.close()
