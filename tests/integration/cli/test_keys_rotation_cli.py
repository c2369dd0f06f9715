"""`cdp keys rotate-data-key` and `cdp keys rotation-status` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cdp.cli import app
from cdp.db import create_engine
from cdp.settings import Settings
from tests.integration.privacy.rotation_data import KEYS, NEW, OLD, seed, with_keys
from tests.integration.profiles.conftest import (  # noqa: F401 - fixtures
    pipeline_settings,
    template_database,
)

pytestmark = pytest.mark.integration


def use_keys(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, home: Path, active: str, *keys: str
) -> None:
    assert settings.database_url is not None
    monkeypatch.setenv("CDP_DATABASE_URL", settings.database_url.get_secret_value())
    monkeypatch.setenv("CDP_HOME", str(home))
    monkeypatch.setenv("CDP_PRIVACY__DATA_KEYS", json.dumps({k: KEYS[k] for k in keys}))
    monkeypatch.setenv("CDP_PRIVACY__DATA_KEY_ID", active)


def test_rotate_wait_status_and_refusals(
    pipeline_settings: Settings,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    seed(with_keys(pipeline_settings, OLD, (OLD,)), 4)
    runner = CliRunner()

    use_keys(monkeypatch, pipeline_settings, tmp_path, OLD, OLD, NEW)
    nothing = runner.invoke(app, ["keys", "rotate-data-key"])
    assert nothing.exit_code == 2
    assert "nothing to do" in nothing.output

    use_keys(monkeypatch, pipeline_settings, tmp_path, NEW, OLD, NEW)
    status = runner.invoke(app, ["keys", "rotation-status"], terminal_width=200)
    assert status.exit_code == 0, status.output
    assert f"still in use besides the active key {NEW!r}: {OLD}" in status.output

    queued = runner.invoke(app, ["keys", "rotate-data-key"])
    assert queued.exit_code == 0, queued.output
    assert "rotation 1 to data key 'k2026' queued" in queued.output
    again = runner.invoke(app, ["keys", "rotate-data-key", "--wait"])
    assert again.exit_code == 2
    assert "rotation 1 to data key 'k2026' is already queued" in again.output

    monkeypatch.setenv("CDP_PRIVACY__ENCRYPT_PII", "false")
    off = runner.invoke(app, ["keys", "rotate-data-key"])
    assert off.exit_code == 2
    assert "encryption is off" in off.output
    monkeypatch.delenv("CDP_PRIVACY__ENCRYPT_PII")

    engine = create_engine(with_keys(pipeline_settings, NEW), pool_size=1)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE data_key_rotations SET status = 'failed' WHERE id = 1")
    engine.dispose()
    waited = runner.invoke(app, ["keys", "rotate-data-key", "--wait"])
    assert waited.exit_code == 0, waited.output
    assert "rotation 2 done: every stored value is under 'k2026'" in waited.output

    status = runner.invoke(app, ["keys", "rotation-status"], terminal_width=200)
    assert status.exit_code == 0, status.output
    assert f"every stored value is under the active data key {NEW!r}" in status.output
    assert "done" in status.output
