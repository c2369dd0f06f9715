"""Webhook delivery by real `cdp activation` workers to a real local HTTP receiver."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cdp.db.tables import destination_retries
from cdp.embedded import free_port
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
from tests.kafka_helpers import read_all

pytestmark = pytest.mark.integration

#: What the receiver answers to successive attempts of a change, by its index modulo 5.
SCRIPTS: list[list[Any]] = [[500, 500], [429], ["timeout"], [503, 500], []]


def webhook(name: str, url: str, **extra: Any) -> dict[str, Any]:
    retry = {"max_attempts": 10, "base_backoff_s": 0.05, "max_backoff_s": 2.0, "max_age_s": 120}
    return {
        "name": name,
        "segments": ["vip"],
        "rate_limit": 1000,
        "retry": retry,
        "channel": {"type": "webhook", "url": url, "secret": SECRET, "timeout_s": 0.5},
        **extra,
    }


def test_failures_are_retried_until_the_receiver_has_exactly_the_changes(
    activation_settings: Settings, engine: Engine, receiver: Receiver, apply: Apply, tmp_path: Path
) -> None:
    name = f"hook-{uuid.uuid4().hex[:6]}"
    apply([webhook(name, receiver.url("/hook"))])
    changes = [change("vip", 1000 + i % 7, "entered" if i % 3 else "exited") for i in range(40)]
    changes.append(change("other-segment", 5))
    for i, record in enumerate(changes[:40]):
        receiver.script[record["change_id"]] = list(SCRIPTS[i % 5])
    metrics_port = free_port()
    activation_settings = activation_settings.model_copy(
        update={"activation_metrics_port": metrics_port}
    )
    with activation_process(activation_settings, tmp_path / "activation.log"):
        publish(activation_settings, changes)
        expected = {c["change_id"] for c in changes[:40]}
        wait_for(
            lambda: receiver.change_ids("/hook") >= expected,
            timeout=90,
            what="every change delivered",
        )
        wait_for(
            lambda: (
                status_of(engine, name).get("delivered") == 40
                and status_of(engine, name).get("retrying") == 0
            ),
            timeout=20,
            what="the status to count 40 delivered",
        )
        metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
    delivered = f'cdp_activation_deliveries_total{{destination="{name}",outcome="delivered"}} 40.0'
    assert delivered in metrics
    hits = receiver.received("/hook")
    assert receiver.change_ids("/hook") == expected
    assert all(h.signed for h in hits)
    retried = [c["change_id"] for i, c in enumerate(changes[:40]) if i % 5 != 4]
    assert all(receiver.attempts[cid] >= 2 for cid in retried)
    first_seen: dict[str, float] = {}
    for hit in hits:
        first_seen.setdefault(hit.body["change_id"], hit.at)
    for profile in {c["profile_id"] for c in changes[:40]}:
        sent = [c["change_id"] for c in changes[:40] if c["profile_id"] == profile]
        assert sorted(sent, key=first_seen.__getitem__) == sent, "order per profile"
    sample = hits[0].body
    assert set(sample) >= {"change_id", "segment", "segment_version", "profile_id", "change", "at"}
    assert sample["identifiers"][0].startswith("user_id:u")
    assert status_of(engine, name)["aborted"] == 0


def test_a_dead_destination_is_dead_lettered_while_a_healthy_one_gets_everything(
    activation_settings: Settings, engine: Engine, receiver: Receiver, apply: Apply, tmp_path: Path
) -> None:
    healthy, dead, refused = (f"{k}-{uuid.uuid4().hex[:6]}" for k in ("ok", "dead", "refused"))
    receiver.default = {"/dead": "timeout", "/refused": 400}
    slow_retry = {"max_attempts": 3, "base_backoff_s": 0.2, "max_backoff_s": 0.5, "max_age_s": 60}
    apply(
        [
            webhook(healthy, receiver.url("/ok")),
            webhook(dead, receiver.url("/dead"), retry=slow_retry)
            | {
                "channel": {
                    "type": "webhook",
                    "url": receiver.url("/dead"),
                    "secret": SECRET,
                    "timeout_s": 0.3,
                    "concurrency": 4,
                }
            },
            webhook(refused, receiver.url("/refused")),
        ]
    )
    changes = [change("vip", 2000 + i) for i in range(20)]
    with activation_process(activation_settings, tmp_path / "activation.log"):
        publish(activation_settings, changes)
        expected = {c["change_id"] for c in changes}
        wait_for(lambda: receiver.change_ids("/ok") == expected, timeout=60, what="healthy")
        dead_status = status_of(engine, dead)
        assert dead_status.get("aborted", 0) < 20, "the healthy one did not wait for the dead one"
        wait_for(
            lambda: (
                status_of(engine, dead).get("aborted") == 20
                and status_of(engine, refused).get("aborted") == 20
            ),
            timeout=120,
            what="both failing destinations to abort everything",
        )
    letters = [
        r.value for r in read_all(activation_settings, activation_settings.topics.activation_dlq)
    ]
    by_origin: dict[str, list[dict[str, Any]]] = {}
    for letter in letters:
        by_origin.setdefault(letter["origin"], []).append(letter)
    assert {x["message_id"] for x in by_origin[dead]} == expected
    assert {x["reason"] for x in by_origin[dead]} == {"max_attempts"}
    assert {x["reason"] for x in by_origin[refused]} == {"http_400"}
    assert {x["stage"] for x in letters} == {"activation"}
    assert healthy not in by_origin
    assert status_of(engine, healthy)["delivered"] == 20
    assert status_of(engine, dead)["last_error"]


def test_a_restart_mid_retry_loses_nothing(
    activation_settings: Settings, engine: Engine, receiver: Receiver, apply: Apply, tmp_path: Path
) -> None:
    """Offsets are committed only for finished changes: stopping while retrying redelivers them."""
    name = f"restart-{uuid.uuid4().hex[:6]}"
    receiver.default = {"/hook": 500}
    retry = {"max_attempts": 100, "base_backoff_s": 0.05, "max_backoff_s": 0.2, "max_age_s": 600}
    apply([webhook(name, receiver.url("/hook"), retry=retry)])
    changes = [change("vip", 4000 + i) for i in range(10)]
    with activation_process(activation_settings, tmp_path / "first.log"):
        publish(activation_settings, changes)
        wait_for(
            lambda: len(receiver.attempts) == 10 and min(receiver.attempts.values()) >= 3,
            timeout=120,
            what="every change to be retrying",
        )
        assert status_of(engine, name).get("delivered", 0) == 0
    receiver.default = {}
    with activation_process(activation_settings, tmp_path / "second.log"):
        wait_for(
            lambda: receiver.change_ids("/hook") == {c["change_id"] for c in changes},
            timeout=120,
            what="every change delivered after the restart",
        )


def test_a_restart_does_not_give_a_failing_change_a_new_max_age(
    activation_settings: Settings, engine: Engine, receiver: Receiver, apply: Apply, tmp_path: Path
) -> None:
    """The stopped worker keeps retrying its batch until it is killed (`STOP_GRACE_S`, 8 s), so
    `max_age_s` is longer than that: the change must outlive its age while no worker runs."""
    name = f"hook-{uuid.uuid4().hex[:6]}"
    receiver.default = {"/down": 500}
    max_age_s = 15.0
    retry = {
        "max_attempts": 100,
        "base_backoff_s": 0.2,
        "max_backoff_s": 0.3,
        "max_age_s": max_age_s,
    }
    apply([webhook(name, receiver.url("/down"), retry=retry)])
    record = change("vip", 4242)
    change_id = record["change_id"]
    with activation_process(activation_settings, tmp_path / "first.log"):
        publish(activation_settings, [record])
        wait_for(lambda: receiver.attempts.get(change_id, 0) >= 3, timeout=60, what="retries")
    before = receiver.attempts[change_id]
    history = retry_history(engine, name, change_id)
    assert history is not None, "the stopped worker kept the change's retry history"
    first_attempt, counted = history
    assert before - 1 <= counted <= before
    wait_for(
        lambda: time.time() - first_attempt > max_age_s + 0.5,
        timeout=60,
        what="the change to outlive its max_age while no worker runs",
    )
    with activation_process(activation_settings, tmp_path / "second.log"):
        wait_for(lambda: status_of(engine, name).get("aborted") == 1, timeout=60, what="the abort")
    letters = [
        r.value for r in read_all(activation_settings, activation_settings.topics.activation_dlq)
    ]
    assert [(x["message_id"], x["reason"]) for x in letters] == [(change_id, "max_age")]
    assert receiver.attempts[change_id] == before + 1, "one attempt after the restart, then aborted"
    assert retry_history(engine, name, change_id) is None
    assert receiver.received("/down") == []


def retry_history(engine: Engine, name: str, change_id: str) -> tuple[float, int] | None:
    """The stored (first attempt as epoch seconds, attempts) of a change, if any."""
    r = destination_retries
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(sa.extract("epoch", r.c.first_attempt_at), r.c.attempts).where(
                r.c.destination == name, r.c.change_id == change_id
            )
        ).one_or_none()
    return None if row is None else (float(row[0]), int(row[1]))
