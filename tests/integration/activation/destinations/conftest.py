"""A real HTTP receiver, real `cdp activation` processes, and a writer of membership changes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from confluent_kafka import Producer
from sqlalchemy.engine import Engine

from cdp.activation.destinations import apply_destinations, parse_destinations
from cdp.activation.destinations.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from cdp.db.tables import (
    destination_members,
    destination_pending,
    destination_retries,
    destination_status,
    destinations,
)
from cdp.schemas import MEMBERSHIP_CHANGE, codec_for
from cdp.settings import Settings, Topics
from tests.integration.conftest import TopicFactory

SECRET = "whsec_test"


@dataclass
class Hit:
    """One request the receiver answered 2xx."""

    body: dict[str, Any]
    signed: bool
    at: float


@dataclass
class Receiver:
    """Answers POSTs per a script keyed by change id: a list of 'ok', 500, 429, 'timeout', 400.

    Unscripted changes (and scripts used up) get 200. `plan(path)` changes the default per path.
    """

    script: dict[str, list[Any]] = field(default_factory=dict)
    default: dict[str, Any] = field(default_factory=dict)
    hits: dict[str, list[Hit]] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0
    timeout_sleep_s: float = 1.5

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, path: str, body: bytes, headers: Any) -> tuple[int, dict[str, str]]:
        data = orjson.loads(body)
        change_id = data["change_id"]
        with self.lock:
            self.attempts[change_id] = self.attempts.get(change_id, 0) + 1
            planned = self.script.get(change_id, [])
            step = planned.pop(0) if planned else self.default.get(path, "ok")
        if step == "timeout":
            time.sleep(self.timeout_sleep_s)
            return 200, {}
        if step == 429:
            return 429, {"Retry-After": "1"}
        if step == 503:
            return 503, {"Retry-After": "1"}
        if isinstance(step, int):
            return step, {}
        signed = verify(SECRET, body, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER])
        with self.lock:
            self.hits.setdefault(path, []).append(Hit(data, signed, time.monotonic()))
        return 200, {}

    def received(self, path: str) -> list[Hit]:
        with self.lock:
            return list(self.hits.get(path, []))

    def change_ids(self, path: str) -> set[str]:
        return {h.body["change_id"] for h in self.received(path)}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status, headers = state.answer(self.path, body, self.headers)
            with contextlib.suppress(OSError):
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "0")
                self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def activation_settings(base_settings: Settings, topic_factory: TopicFactory) -> Settings:
    """Membership and activation dead-letter topics of this test, and its own group prefix."""
    topics = Topics(
        membership=topic_factory("membership", 3), activation_dlq=topic_factory("adlq", 1)
    )
    return base_settings.model_copy(
        update={
            "topics": topics,
            "activation_group_prefix": f"test-act-{uuid.uuid4().hex[:8]}-",
            "activation_reload_seconds": 0.5,
            "activation_consent_sweep_seconds": 0.5,
            "activation_batch_wait_ms": 50,
        }
    )


Apply = Callable[[list[dict[str, Any]]], None]


@pytest.fixture
def apply(engine: Engine) -> Iterator[Apply]:
    """Stores destinations; removes them (and their rows) afterwards."""
    names: list[str] = []

    def run(defs: list[dict[str, Any]]) -> None:
        found = parse_destinations(defs)
        names.extend(d.name for d in found)
        apply_destinations(engine, found)

    yield run
    with engine.begin() as conn:
        for table, column in (
            (destinations, destinations.c.name),
            (destination_status, destination_status.c.destination),
            (destination_members, destination_members.c.destination),
            (destination_pending, destination_pending.c.destination),
            (destination_retries, destination_retries.c.destination),
        ):
            conn.execute(sa.delete(table).where(column.in_(names)))


@contextlib.contextmanager
def activation_process(settings: Settings, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m cdp activation` with these settings, stopped with SIGTERM afterwards."""
    env = dict(os.environ)
    env.update(
        {
            "CDP_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers or "",
            "CDP_KAFKA_EMBEDDED": "true" if settings.kafka_embedded else "false",
            "CDP_DATABASE_URL": settings.database_url.get_secret_value()
            if settings.database_url
            else "",
            "CDP_TOPICS__MEMBERSHIP": settings.topics.membership,
            "CDP_TOPICS__ACTIVATION_DLQ": settings.topics.activation_dlq,
            "CDP_ACTIVATION_GROUP_PREFIX": settings.activation_group_prefix,
            "CDP_ACTIVATION_RELOAD_SECONDS": str(settings.activation_reload_seconds),
            "CDP_ACTIVATION_CONSENT_SWEEP_SECONDS": str(settings.activation_consent_sweep_seconds),
            "CDP_ACTIVATION_BATCH_WAIT_MS": str(settings.activation_batch_wait_ms),
            "CDP_ACTIVATION_METRICS_PORT": str(settings.activation_metrics_port),
            "CDP_HOME": str(log_path.parent / "home"),
        }
    )
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "cdp", "activation"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            yield process
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def change(
    segment: str, profile_id: int, kind: str = "entered", traits: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "change_id": str(uuid.uuid4()),
        "segment": segment,
        "segment_version": 1,
        "profile_id": profile_id,
        "change": kind,
        "at": int(time.time() * 1000),
        "traits": orjson.dumps(traits or {}).decode(),
        "identifiers": [f"user_id:u{profile_id}"],
        "reason": "evaluation",
    }


def publish(settings: Settings, changes: list[dict[str, Any]]) -> None:
    """Put `changes` on the membership topic keyed by profile id, as the relay does."""
    codec = codec_for(settings)
    producer = Producer(settings.kafka_config(**{"linger.ms": 5}))
    for record in changes:
        producer.produce(
            settings.topics.membership,
            codec.encode(MEMBERSHIP_CHANGE, record),
            str(record["profile_id"]).encode(),
        )
    assert producer.flush(30) == 0


def status_of(engine: Engine, name: str) -> dict[str, Any]:
    with engine.connect() as conn:
        row = (
            conn.execute(
                sa.select(destination_status).where(destination_status.c.destination == name)
            )
            .mappings()
            .one_or_none()
        )
    return dict(row) if row else {}
