"""The real Kafka broker and Postgres the integration and e2e tests run against.

By default the embedded Tansu broker and embedded Postgres are started once per session. Set
`CDP_TEST_KAFKA` / `CDP_TEST_DATABASE_URL` to use external services instead, or
`CDP_TEST_CONTAINERS=1` (with a reachable Docker engine and `testcontainers` installed) to start
Apache Kafka and Postgres containers.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psycopg
from psycopg import sql

from cdp.embedded import EmbeddedBroker, EmbeddedPostgres, free_port


@contextmanager
def kafka_service(workdir: Path) -> Iterator[tuple[str, bool]]:
    """Yields (bootstrap servers, is_embedded)."""
    external = os.environ.get("CDP_TEST_KAFKA")
    if external:
        yield external, False
        return
    if os.environ.get("CDP_TEST_CONTAINERS") == "1":
        from testcontainers.kafka import KafkaContainer  # type: ignore[import-not-found]

        with KafkaContainer().with_kraft() as kafka:
            yield kafka.get_bootstrap_server(), False
        return
    broker = EmbeddedBroker(free_port(), workdir / "kafka.log").start()
    try:
        yield broker.bootstrap_servers, True
    finally:
        broker.stop()


@contextmanager
def postgres_service(workdir: Path) -> Iterator[str]:
    """Yields the URL of a fresh, empty database that is dropped afterwards."""
    external = os.environ.get("CDP_TEST_DATABASE_URL")
    if external:
        with _scratch_database(external) as url:
            yield url
        return
    if os.environ.get("CDP_TEST_CONTAINERS") == "1":
        from testcontainers.postgres import PostgresContainer  # type: ignore[import-not-found]

        with (
            PostgresContainer("postgres:16", driver=None) as pg,
            _scratch_database(pg.get_connection_url()) as url,
        ):
            yield url
        return
    server = EmbeddedPostgres(workdir / "postgres").start()
    try:
        yield server.create_database("cdp_test")
    finally:
        server.stop()


@contextmanager
def _scratch_database(admin_url: str) -> Iterator[str]:
    name = f"cdp_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = sibling_url(admin_url, name)
    try:
        yield url
    finally:
        with suppress(psycopg.Error), psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def sibling_url(url: str, database: str) -> str:
    """`url` with its database name replaced by `database` (query string kept)."""
    base, _, query = url.partition("?")
    return base.rsplit("/", 1)[0] + "/" + database + (f"?{query}" if query else "")


def clone_database(admin_url: str, template: str) -> str:
    """A new database copied from `template` (which must have no open connections); its URL."""
    name = f"cdp_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    return sibling_url(admin_url, name)


def drop_database(admin_url: str, url: str) -> None:
    name = url.partition("?")[0].rsplit("/", 1)[1]
    with suppress(psycopg.Error), psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
