"""`cdp bench webhook`: membership changes through one destination's faust worker to a local receiver.

One run: embedded Kafka and Postgres under a temporary home, a uvicorn receiver process, a
webhook destination (no rate limit to speak of), `changes` membership changes produced onto the
membership topic, then `cdp activation-worker` started. The rate is deliveries over the time from
the receiver's first POST to its last, so the worker's start-up and group join stay out of it.
CPU seconds of the worker per 1,000 deliveries are reported too, being less noisy on a shared box.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
from confluent_kafka import Producer

from cdp.activation.destinations import apply_destinations, parse_destinations
from cdp.bench.environment import temporary_home
from cdp.bench.errors import BenchError
from cdp.db import create_engine, upgrade
from cdp.embedded import free_port
from cdp.kafka import ensure_topics, platform_topics, wait_for_broker
from cdp.schemas import MEMBERSHIP_CHANGE, codec_for
from cdp.settings import Settings, load_settings
from cdp.stack import EmbeddedServices

__all__ = ["WebhookBenchResult", "run_webhook_bench"]

#: A cold receiver or worker takes a few seconds here; a broken one should not hang the run.
START_TIMEOUT_S = 60.0
POLL_S = 0.2


@dataclass(frozen=True, slots=True)
class WebhookBenchResult:
    changes: int
    delivered: int
    seconds: float
    deliveries_per_s: float
    worker_cpu_s_per_1000: float
    concurrency: int
    profiles: int


def run_webhook_bench(
    changes: int,
    profiles: int,
    concurrency: int,
    timeout_s: float = 600.0,
    announce: Callable[[str], None] = print,
) -> WebhookBenchResult:
    """Run the benchmark once on embedded services; the measured figures."""
    with temporary_home() as home:
        services = EmbeddedServices(load_settings(home=home, embedded_kafka_port=free_port()))
        try:
            announce("starting Kafka and Postgres ...")
            settings = services.start()
            upgrade(settings)
            wait_for_broker(settings)
            ensure_topics(settings, platform_topics(settings))
            with _receiver(home) as url:
                _apply(settings, url, concurrency)
                announce(f"producing {changes} membership changes ...")
                _produce(settings, changes, profiles)
                announce("delivering ...")
                with _worker(settings, home) as worker:
                    stats = _wait_delivered(url, changes, timeout_s)
                    cpu = worker.cpu_times()
        finally:
            services.stop()
    seconds = max(1e-9, stats["last"] - stats["first"])
    delivered = int(stats["count"])
    return WebhookBenchResult(
        changes=changes,
        delivered=delivered,
        seconds=seconds,
        deliveries_per_s=(delivered - 1) / seconds,
        worker_cpu_s_per_1000=(cpu.user + cpu.system) / delivered * 1000,
        concurrency=concurrency,
        profiles=profiles,
    )


@contextmanager
def _receiver(home: Path) -> Iterator[str]:
    port = free_port()
    log = (home / "receiver.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "cdp.bench.webhook_receiver:app", "--port", str(port),
         "--lifespan", "off", "--no-access-log", "--log-level", "warning"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                httpx.get(url, timeout=1.0)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise BenchError("the webhook receiver did not start") from None
                time.sleep(POLL_S)
        yield url
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def _apply(settings: Settings, url: str, concurrency: int) -> None:
    definition = {
        "name": "bench",
        "segments": ["bench"],
        "rate_limit": 100_000,
        "channel": {"type": "webhook", "url": url, "secret": "bench", "concurrency": concurrency},
    }
    engine = create_engine(settings, pool_size=1)
    try:
        apply_destinations(engine, parse_destinations(definition))
    finally:
        engine.dispose()


def _produce(settings: Settings, changes: int, profiles: int) -> None:
    codec = codec_for(settings)
    producer = Producer(settings.kafka_config(**{"linger.ms": 20}))
    now = int(time.time() * 1000)
    for i in range(changes):
        record: dict[str, Any] = {
            "change_id": f"bench-{i}",
            "segment": "bench",
            "segment_version": 1,
            "profile_id": i % profiles,
            "change": "entered" if (i // profiles) % 2 == 0 else "exited",
            "at": now,
            "traits": '{"plan":"pro"}',
            "identifiers": [f"user_id:u{i % profiles}"],
            "reason": "evaluation",
        }
        value = codec.encode(MEMBERSHIP_CHANGE, record)
        producer.produce(settings.topics.membership, value, str(i % profiles).encode())
        if i % 10_000 == 0:
            producer.poll(0)
    if producer.flush(60):
        raise BenchError("the broker did not take the membership changes")


@contextmanager
def _worker(settings: Settings, home: Path) -> Iterator[psutil.Process]:
    env = dict(os.environ)
    env["CDP_KAFKA_BOOTSTRAP_SERVERS"] = settings.kafka_bootstrap_servers or ""
    env["CDP_KAFKA_EMBEDDED"] = "true"
    env["CDP_DATABASE_URL"] = (
        settings.database_url.get_secret_value() if settings.database_url else ""
    )
    env["CDP_LOG_LEVEL"] = "WARNING"
    log = (home / "worker.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "cdp", "activation-worker", "bench"],
        env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield psutil.Process(process.pid)
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_delivered(url: str, changes: int, timeout_s: float) -> dict[str, float]:
    deadline = time.monotonic() + timeout_s
    while True:
        stats: dict[str, float] = httpx.get(url, timeout=5.0).json()
        if stats["count"] >= changes:
            return stats
        if time.monotonic() > deadline:
            raise BenchError(f"only {stats['count']:.0f} of {changes} delivered in {timeout_s}s")
        time.sleep(POLL_S)
