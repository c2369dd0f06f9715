"""The scheduler service (`cdp scheduler`, run by `cdp up`) carries out a queued rotation."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from cdp.db import create_engine
from cdp.privacy.rotation import census, request_rotation
from cdp.settings import Settings
from tests.conftest import wait_for
from tests.integration.privacy.rotation_data import KEYS, NEW, OLD, seed, snapshot, with_keys
from tests.integration.profiles.conftest import (  # noqa: F401 - fixtures
    pipeline_settings,
    template_database,
)

pytestmark = pytest.mark.integration


def status_of(settings: Settings, rotation_id: int) -> str:
    with psycopg.connect(settings.database_dsn()) as conn:
        row = conn.execute(
            "SELECT status FROM data_key_rotations WHERE id = %s", (rotation_id,)
        ).fetchone()
    return str(row[0]) if row else "missing"


def test_the_scheduler_service_runs_the_rotation(
    pipeline_settings: Settings,  # noqa: F811
    tmp_path: Path,
) -> None:
    seed(with_keys(pipeline_settings, OLD, (OLD,)), 20)
    before = snapshot(with_keys(pipeline_settings, OLD, (OLD,)))
    new = with_keys(pipeline_settings, NEW)
    engine = create_engine(new, pool_size=1)
    try:
        rotation = request_rotation(engine, new)
    finally:
        engine.dispose()

    env = dict(os.environ)
    env.update(
        CDP_KAFKA_BOOTSTRAP_SERVERS=new.kafka_bootstrap_servers or "",
        CDP_KAFKA_EMBEDDED=str(new.kafka_embedded).lower(),
        CDP_DATABASE_URL=new.database_dsn(),
        CDP_HOME=str(tmp_path),
        CDP_METRICS_PORT="0",
        CDP_PRIVACY__DATA_KEYS=json.dumps({k: KEYS[k] for k in (OLD, NEW)}),
        CDP_PRIVACY__DATA_KEY_ID=NEW,
    )
    log = (tmp_path / "scheduler.log").open("wb")
    service = subprocess.Popen(
        [sys.executable, "-m", "cdp", "scheduler"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(
            lambda: status_of(new, rotation.id) == "done",
            timeout=90,
            what="the scheduler service to finish the rotation",
        )
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(30)
        log.close()
    with psycopg.connect(new.database_dsn()) as conn:
        after = census(conn)
    assert all(set(by_key) == {NEW} for by_key in after.values()), after
    assert snapshot(with_keys(pipeline_settings, NEW, (NEW,))) == before
