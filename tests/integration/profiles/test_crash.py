"""kill -9 in the middle of a run, restart: the profiles are exactly those of an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from cdp.settings import Settings
from tests.conftest import wait_for
from tests.integration.profiles.conftest import TEMPLATE, EventSender, consumed_up_to
from tests.integration.profiles.snapshot import differences, snapshot
from tests.integration.profiles.test_concurrency import (
    merge_heavy_workload,
    run_with_existing_topic,
)
from tests.services import clone_database, drop_database

pytestmark = pytest.mark.integration


def processor_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDP_")}
    assert settings.kafka_bootstrap_servers is not None
    env.update(
        CDP_KAFKA_BOOTSTRAP_SERVERS=settings.kafka_bootstrap_servers,
        CDP_KAFKA_EMBEDDED=str(settings.kafka_embedded).lower(),
        CDP_DATABASE_URL=settings.database_dsn(),
        CDP_TOPICS__RAW=settings.topics.raw,
        CDP_TOPICS__DLQ=settings.topics.dlq,
        CDP_TOPICS__PROFILE_CHANGES=settings.topics.profile_changes,
        CDP_PROCESSOR_GROUP=settings.processor_group,
        CDP_PROCESSOR_BATCH_MAX="40",
        CDP_HOME=str(settings.home),
    )
    return env


def start(settings: Settings) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "cdp", "processor"],
        env=processor_env(settings),
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def reference(pipeline_settings: Settings, template_database: str) -> Iterator[Settings]:
    url = clone_database(template_database, TEMPLATE)
    yield pipeline_settings.model_copy(
        update={
            "database_url": SecretStr(url),
            "processor_group": pipeline_settings.processor_group + "-ref",
        }
    )
    drop_database(template_database, url)


def test_kill_9_mid_run_then_restart_gives_the_uninterrupted_result(
    pipeline_settings: Settings, sender: EventSender, reference: Settings
) -> None:
    events = list(merge_heavy_workload(seed=11, people=150))
    for begin in range(0, len(events), 100):
        sender.send(*events[begin : begin + 100])
    total = sender.sent

    victim = start(pipeline_settings)
    try:
        wait_for(
            lambda: consumed_up_to(pipeline_settings) >= total // 4,
            timeout=90,
            what="a quarter applied",
        )
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        assert consumed_up_to(pipeline_settings) < total, "killed before the end"
    finally:
        victim.kill()

    survivor = start(pipeline_settings)
    try:
        wait_for(
            lambda: consumed_up_to(pipeline_settings) >= total,
            timeout=120,
            what="the restarted processor to finish",
        )
    finally:
        survivor.send_signal(signal.SIGTERM)
        assert survivor.wait(30) == 0

    expected_sender = EventSender(reference, sender.producer, sent=total)
    expected = run_with_existing_topic(reference, expected_sender)
    assert len(expected) == 150
    assert differences(snapshot(pipeline_settings), expected) == []
