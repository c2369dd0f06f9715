from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from cdp.activation.destinations import list_destinations
from cdp.cli import app
from cdp.settings import Settings

pytestmark = pytest.mark.integration


def test_apply_list_status_delete(
    base_settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert base_settings.database_url is not None
    monkeypatch.setenv("CDP_DATABASE_URL", base_settings.database_url.get_secret_value())
    monkeypatch.setenv("CDP_KAFKA_BOOTSTRAP_SERVERS", base_settings.kafka_bootstrap_servers or "")
    monkeypatch.setenv("CDP_HOME", str(base_settings.home))
    name = f"cli-{uuid.uuid4().hex[:6]}"
    secret = f"whsec_{uuid.uuid4().hex}"
    path = tmp_path / "d.yaml"
    path.write_text(
        f"name: {name}\nsegments: [vip]\nchannel:\n  type: webhook\n"
        f"  url: http://127.0.0.1:9/h\n  secret: {secret}\n"
    )
    runner = CliRunner()

    applied = runner.invoke(app, ["destinations", "apply", str(path)])
    assert applied.exit_code == 0, applied.output
    assert f"{name}: created" in applied.output
    assert f"{name}: unchanged" in runner.invoke(app, ["destinations", "apply", str(path)]).output
    stored = {d.name: d for d in list_destinations(engine)}[name]
    assert stored.channel.secret.get_secret_value() == secret  # type: ignore[union-attr]

    for args in (["destinations", "list"], ["destinations", "list", "--json"]):
        listed = runner.invoke(app, args, terminal_width=200)
        assert listed.exit_code == 0, listed.output
        assert name in listed.output
        assert secret not in listed.output

    status = runner.invoke(app, ["destinations", "status"], terminal_width=200)
    assert status.exit_code == 0, status.output
    row = next(line for line in status.output.splitlines() if name in line)
    assert row.split("│")[2].strip() == "0", "delivered"

    path.write_text("name: Bad Name\nsegments: []\n")
    refused = runner.invoke(app, ["destinations", "apply", str(path)])
    assert refused.exit_code == 2
    assert "segments" in refused.output

    assert runner.invoke(app, ["destinations", "delete", name]).exit_code == 0
    assert runner.invoke(app, ["destinations", "delete", name]).exit_code == 2
