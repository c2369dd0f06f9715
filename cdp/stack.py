"""`cdp up`: the whole platform on one machine, embedded services included when none are configured.

The services run as child processes, exactly as they would be deployed one per container; this
module starts them, watches them, and stops every one of them cleanly on Ctrl-C or when any exits.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from pydantic import SecretStr

from cdp.db import create_engine, upgrade
from cdp.embedded import (
    EmbeddedBroker,
    EmbeddedPostgres,
    StackState,
    free_port,
    read_state,
    write_state,
)
from cdp.embedded.state import clear_state
from cdp.errors import CdpError
from cdp.ingest.sources import create_source, find_source
from cdp.kafka import ensure_topics, platform_topics, wait_for_broker
from cdp.settings import Settings

__all__ = ["EmbeddedServices", "Supervisor", "dev_write_key", "instances"]

log = logging.getLogger(__name__)

#: The services `cdp up` runs, as `cdp` sub-commands; later stages add themselves here.
SERVICES: tuple[str, ...] = ("collector", "processor", "relay", "api", "scheduler", "activation")
#: Services that serve health and metrics on their own HTTP port; the others get a free port.
HTTP_SERVICES = frozenset({"collector", "api"})
DATABASE = "cdp"
STOP_GRACE_S = 10.0
#: A cold start imports FastAPI, confluent-kafka and fastavro and joins the broker: ~2 s here.
READY_TIMEOUT_S = 60.0


@dataclass
class EmbeddedServices:
    """The embedded broker and Postgres started for this run (either may be external instead);
    an embedded Postgres loads the server libraries `postgres_libraries`."""

    settings: Settings
    broker: EmbeddedBroker | None = None
    postgres: EmbeddedPostgres | None = None
    postgres_libraries: tuple[str, ...] = ()

    def start(self) -> Settings:
        """Start what is not configured and return settings that point at everything."""
        running = read_state(self.settings.home)
        if running is not None:
            raise CdpError(f"a stack is already running here (pid {running.pid}); stop it first")
        update: dict[str, object] = {}
        home = self.settings.home
        if self.settings.kafka_bootstrap_servers is None:
            self.broker = EmbeddedBroker(
                self.settings.embedded_kafka_port, home / "logs" / "kafka.log"
            ).start()
            update["kafka_bootstrap_servers"] = self.broker.bootstrap_servers
            update["kafka_embedded"] = True
        if self.settings.database_url is None:
            self.postgres = EmbeddedPostgres(home / "postgres", self.postgres_libraries).start()
            update["database_url"] = SecretStr(self.postgres.create_database(DATABASE))
        return self.settings.model_copy(update=update)

    def stop(self) -> None:
        if self.broker is not None:
            self.broker.stop()
        if self.postgres is not None:
            self.postgres.stop()
        clear_state(self.settings.home)


def prepare(settings: Settings) -> None:
    """Migrate Postgres and create the topics: idempotent, safe on every start."""
    upgrade(settings)
    wait_for_broker(settings)
    ensure_topics(settings, platform_topics(settings))


def dev_write_key(settings: Settings) -> str:
    """A write key to try the collector with, kept in `.cdp/dev-write-key` (development only)."""
    path = settings.home / "dev-write-key"
    engine = create_engine(settings, pool_size=1)
    try:
        if path.exists():
            key = path.read_text().strip()
            if find_source(engine, key) is not None:
                return key
        _, key = create_source(engine, f"development-{int(time.time())}")
    finally:
        engine.dispose()
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


@dataclass
class Supervisor:
    """Runs each service as `python -m cdp <service>` and stops them all together."""

    settings: Settings
    broker: EmbeddedBroker | None = None
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    health_ports: dict[str, int] = field(default_factory=dict)
    """The `/healthz`, `/readyz`, `/metrics` port of each service without an HTTP API."""

    def child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["CDP_KAFKA_BOOTSTRAP_SERVERS"] = self.settings.kafka_bootstrap_servers or ""
        if self.settings.database_url is not None:
            env["CDP_DATABASE_URL"] = self.settings.database_url.get_secret_value()
        env["CDP_KAFKA_EMBEDDED"] = "true" if self.settings.kafka_embedded else "false"
        env["CDP_HOME"] = str(self.settings.home)
        return env

    def start(self, services: tuple[str, ...] = SERVICES) -> None:
        env = self.child_env()
        base = self.settings.metrics_port
        for name, command in instances(services, self.settings.processor_instances):
            if command not in HTTP_SERVICES:
                self.health_ports[name] = base + len(self.health_ports) if base else free_port()
            port = self.health_ports.get(name)
            self.children[name] = subprocess.Popen(
                [sys.executable, "-m", "cdp", command],
                env={**env, "CDP_METRICS_PORT": str(port)} if port else env,
                stdin=subprocess.DEVNULL,
            )

    def failed(self) -> str | None:
        """The name of a service (or the embedded broker) that has exited, if any."""
        if self.broker is not None and not self.broker.running():
            return "embedded broker"
        for name, child in self.children.items():
            if child.poll() is not None:
                return name
        return None

    def wait(self) -> str | None:
        """Block until a signal arrives (returns None) or a service exits (returns its name)."""
        stop = _SignalLatch()
        while not stop.fired:
            failed = self.failed()
            if failed is not None:
                return failed
            time.sleep(0.2)
        return None

    def stop(self) -> None:
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for child in self.children.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(max(0.1, deadline - time.monotonic()))
            if child.poll() is None:
                child.kill()
                child.wait()


def instances(services: tuple[str, ...], processors: int) -> list[tuple[str, str]]:
    """The (name, `cdp` sub-command) of each child to start: one per service, but `processors`
    processors (`processor`, `processor-2`, ...), which share the raw topic's partitions as one
    consumer group."""
    out: list[tuple[str, str]] = []
    for service in services:
        count = processors if service == "processor" else 1
        out += [(service if n == 1 else f"{service}-{n}", service) for n in range(1, count + 1)]
    return out


class _SignalLatch:
    """Turns SIGINT and SIGTERM into a flag the supervisor loop reads."""

    def __init__(self) -> None:
        self.fired = False
        signal.signal(signal.SIGINT, self._fire)
        signal.signal(signal.SIGTERM, self._fire)

    def _fire(self, _signum: int, _frame: object) -> None:
        self.fired = True


def run_stack(settings: Settings, announce: Callable[[str], None] = print) -> int:
    """Start everything, wait for Ctrl-C or a failing service, stop everything; the exit code."""
    services = EmbeddedServices(settings)
    supervisor: Supervisor | None = None
    try:
        resolved = services.start()
        prepare(resolved)
        collector_url = f"http://{resolved.collector_host}:{resolved.collector_port}"
        write_state(
            resolved.home,
            StackState(
                pid=os.getpid(),
                kafka_bootstrap_servers=resolved.kafka_bootstrap_servers or "",
                database_url=resolved.require_database_url(),
                collector_url=collector_url,
                kafka_embedded=resolved.kafka_embedded,
            ),
        )
        key = dev_write_key(resolved) if resolved.environment == "development" else None
        supervisor = Supervisor(resolved, broker=services.broker)
        supervisor.start()
        wait_ready(f"{collector_url}/readyz", supervisor)
        wait_ready(f"http://{resolved.api_host}:{resolved.api_port}/readyz", supervisor)
        announce(_banner(resolved, collector_url, key, supervisor.health_ports))
        failed = supervisor.wait()
        if failed is not None:
            log.error("service %s exited; stopping the stack", failed)
            return 1
        return 0
    finally:
        if supervisor is not None:
            supervisor.stop()
        services.stop()


def wait_ready(url: str, supervisor: Supervisor, timeout: float = READY_TIMEOUT_S) -> None:
    """Wait until `url` answers 200, failing early if a service exits meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        failed = supervisor.failed()
        if failed is not None:
            raise CdpError(f"{failed} exited while starting")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        time.sleep(0.1)
    raise CdpError(f"{url} was not ready within {timeout:.0f}s")


def _banner(
    settings: Settings, collector_url: str, key: str | None, health_ports: dict[str, int]
) -> str:
    api_url = f"http://{settings.api_host}:{settings.api_port}"
    default_token = settings.api_token.get_secret_value() == "changethis"
    token_hint = ", the development default: changethis" if default_token else ""
    lines = [
        "cdp is up.",
        f"  collector  {collector_url}   (Segment tracking API: /v1/track, /v1/batch, ...)",
        f"  profiles   {api_url}/v1/profiles/{{type}}:{{value}}"
        f"   (needs Authorization: Bearer $CDP_API_TOKEN{token_hint})",
        f"  kafka      {settings.kafka_bootstrap_servers}{'  (embedded, memory only)' if settings.kafka_embedded else ''}",
        f"  metrics    {collector_url}/metrics",
        f"  console    {api_url}/console/   (API key: the API token)",
        *(
            f"  {name:<10} http://{settings.metrics_host}:{port}/healthz  /readyz  /metrics"
            for name, port in health_ports.items()
        ),
    ]
    if key:
        lines += [
            f"  write key  {key}",
            "",
            "Try it:",
            f"  curl -u '{key}:' -H 'Content-Type: application/json' \\",
            f'    -d \'{{"userId":"u1","event":"Signed Up"}}\' {collector_url}/v1/track',
            "  cdp tail cdp.events.raw",
            f"  curl -H 'Authorization: Bearer {'changethis' if default_token else '$CDP_API_TOKEN'}' "
            f"{api_url}/v1/profiles/user_id:u1",
            "  cdp profile show user_id:u1",
            "",
            "Demo: in another terminal, run `cdp demo`: it streams e-commerce journeys through",
            "  the collector and prints where to look; `cdp status` shows the pipeline live.",
        ]
    lines.append("Ctrl-C stops everything.")
    return "\n".join(lines)
