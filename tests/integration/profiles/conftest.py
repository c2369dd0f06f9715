"""Fixtures for the processor: a fresh database per test, its own topics, events in, a processor."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from confluent_kafka import Producer
from pydantic import SecretStr

from cdp.db import upgrade
from cdp.embedded import EmbeddedBroker
from cdp.ingest.validate import BatchContext, validate_batch
from cdp.profiles import Processor
from cdp.schemas import EVENT, codec_for
from cdp.settings import Limits, Settings, Topics
from tests.conftest import wait_for
from tests.integration.conftest import TopicFactory
from tests.services import clone_database, drop_database, sibling_url

TEMPLATE = "cdp_template"


@pytest.fixture(scope="session")
def template_database(base_settings: Settings, database_url: str) -> str:
    """A migrated database used only as the template of each test's fresh one."""
    admin = sibling_url(database_url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}"')
        conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
    upgrade(
        base_settings.model_copy(
            update={"database_url": SecretStr(sibling_url(database_url, TEMPLATE))}
        )
    )
    return admin


@pytest.fixture
def pipeline_settings(
    base_settings: Settings, template_database: str, topic_factory: TopicFactory
) -> Iterator[Settings]:
    """Settings with a fresh database and this test's own raw, dead-letter and changes topics."""
    url = clone_database(template_database, TEMPLATE)
    topics = Topics(
        raw=topic_factory("raw", 3),
        dlq=topic_factory("dlq", 1),
        profile_changes=topic_factory("changes", 3),
    )
    yield base_settings.model_copy(
        update={
            "database_url": SecretStr(url),
            "topics": topics,
            "processor_group": f"proc-{uuid.uuid4().hex[:8]}",
            "processor_batch_wait_ms": 50,
        }
    )
    drop_database(template_database, url)


@pytest.fixture
def restartable_settings(pipeline_settings: Settings, own_broker: EmbeddedBroker) -> Settings:
    """`pipeline_settings` on a broker of the test's own, which it may restart (`own_broker`);
    the test creates the topics it needs there, again after each restart."""
    return pipeline_settings.model_copy(
        update={"kafka_bootstrap_servers": own_broker.bootstrap_servers}
    )


@dataclass
class EventSender:
    """Puts Segment-style messages on the raw topic exactly as the collector would."""

    settings: Settings
    producer: Producer
    sent: int = 0
    positions: dict[str, tuple[int, int]] = field(default_factory=dict)
    """messageId → (partition, offset) of each message sent, from the delivery reports."""

    def send(
        self,
        *messages: dict[str, Any],
        received_at: int = 1_800_000_000_000,
        source: str = "src_test",
    ) -> None:
        codec = codec_for(self.settings)
        batch = BatchContext(source, received_at, Limits())
        oks, errs = validate_batch(list(messages), batch)
        assert not errs, [e.reason for e in errs]
        for ok in oks:
            self.producer.produce(
                self.settings.topics.raw,
                codec.encode(EVENT, ok.envelope),
                ok.key,
                on_delivery=self._delivered(ok.envelope["message_id"]),
            )
        assert self.producer.flush(10) == 0
        self.sent += len(oks)

    def _delivered(self, message_id: str) -> Callable[[Any, Any], None]:
        def record(err: Any, msg: Any) -> None:
            if err is None:
                self.positions[message_id] = (msg.partition(), msg.offset())

        return record

    def send_raw(self, value: bytes, key: bytes | None = None) -> None:
        self.producer.produce(self.settings.topics.raw, value, key)
        assert self.producer.flush(10) == 0
        self.sent += 1


@pytest.fixture
def sender(pipeline_settings: Settings) -> EventSender:
    return EventSender(
        pipeline_settings, Producer(pipeline_settings.kafka_config(**{"linger.ms": 1}))
    )


class RunningProcessor:
    """A processor consuming in a thread of the test process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            Processor(self.settings).run(self.stop.is_set)
        except BaseException as exc:
            self.error = exc

    def __enter__(self) -> RunningProcessor:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)
        if self.error is not None:
            raise self.error


def consumed_up_to(settings: Settings) -> int:
    """How many raw-topic records the processor has stored offsets past, over all partitions."""
    with psycopg.connect(settings.database_dsn()) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE consumer_group = %s AND topic = %s",
            (settings.processor_group, settings.topics.raw),
        ).fetchone()
    return int(row[0]) if row else 0


@pytest.fixture
def processed(pipeline_settings: Settings, sender: EventSender) -> Callable[[], None]:
    """Waits until the processor has applied everything sent so far."""

    def wait() -> None:
        wait_for(
            lambda: consumed_up_to(pipeline_settings) >= sender.sent,
            timeout=60,
            what="the processor to catch up",
        )

    return wait


@pytest.fixture
def processor(pipeline_settings: Settings) -> Iterator[RunningProcessor]:
    with RunningProcessor(pipeline_settings) as running:
        yield running


def query(settings: Settings, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(settings.database_dsn()) as conn:
        return conn.execute(sql, params).fetchall()
