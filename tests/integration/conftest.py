"""Fixtures over a real Kafka broker and a real Postgres (embedded unless configured)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
import uvicorn
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from cdp.db import create_engine, upgrade
from cdp.embedded import EmbeddedBroker, free_port
from cdp.ingest import create_source, uvicorn_config
from cdp.kafka import TopicSpec, ensure_topics
from cdp.settings import Settings, Topics
from tests.conftest import wait_for
from tests.services import kafka_service, postgres_service

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def services_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("services")


@pytest.fixture(scope="session")
def kafka(services_dir: Path) -> Iterator[tuple[str, bool]]:
    with kafka_service(services_dir) as bootstrap:
        yield bootstrap


@pytest.fixture(scope="session")
def database_url(services_dir: Path) -> Iterator[str]:
    with postgres_service(services_dir) as url:
        yield url


@pytest.fixture(scope="session")
def base_settings(kafka: tuple[str, bool], database_url: str, services_dir: Path) -> Settings:
    bootstrap, embedded = kafka
    settings = Settings(
        kafka_bootstrap_servers=bootstrap,
        kafka_embedded=embedded,
        database_url=SecretStr(database_url),
        home=services_dir / "home",
        source_cache_seconds=0,
        producer_delivery_timeout_ms=5000,
    )
    upgrade(settings)
    return settings


@pytest.fixture(scope="session")
def engine(base_settings: Settings) -> Iterator[Engine]:
    engine = create_engine(base_settings)
    yield engine
    engine.dispose()


TopicFactory = Callable[..., str]


@pytest.fixture
def topic_factory(base_settings: Settings, request: pytest.FixtureRequest) -> TopicFactory:
    """Creates a topic with a name unique to this test."""

    def make(role: str, partitions: int = 3, **config: str) -> str:
        name = f"test.{request.node.name[:40]}.{role}.{uuid.uuid4().hex[:8]}".replace(
            "[", "_"
        ).replace("]", "_")
        ensure_topics(base_settings, [TopicSpec(name, partitions, dict(config))])
        return name

    return make


@pytest.fixture
def settings(base_settings: Settings, topic_factory: TopicFactory) -> Settings:
    """Settings whose raw and dead-letter topics belong to this test alone."""
    topics = Topics(raw=topic_factory("raw"), dlq=topic_factory("dlq", 1))
    return base_settings.model_copy(update={"topics": topics})


@pytest.fixture
def source_factory(engine: Engine) -> Callable[[], str]:
    """Registers a source with a unique name and returns its write key."""

    def make() -> str:
        _, key = create_source(engine, f"test-{uuid.uuid4().hex[:10]}")
        return key

    return make


@dataclass
class RunningCollector:
    url: str
    settings: Settings
    server: uvicorn.Server


class CollectorThread:
    """A real collector (uvicorn, real sockets) served from a thread of the test process."""

    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        self.settings = settings
        self.server = uvicorn.Server(uvicorn_config(settings, port=self.port))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> RunningCollector:
        self.thread.start()
        wait_for(lambda: self.server.started, timeout=30, what="the collector to start")
        return RunningCollector(f"http://127.0.0.1:{self.port}", self.settings, self.server)

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture
def collector(settings: Settings) -> Iterator[RunningCollector]:
    with CollectorThread(settings) as running:
        yield running


@pytest.fixture
def write_key(source_factory: Callable[[], str]) -> str:
    return source_factory()


def count_rows(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A broker of this test's own, which it may stop and start again on the same port (its
    storage is memory: a restart loses every topic and the producer ids it handed out)."""
    broker = EmbeddedBroker(free_port(), tmp_path / "kafka.log").start()
    yield broker
    broker.stop(kill=True)
