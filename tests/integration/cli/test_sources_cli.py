from __future__ import annotations

import uuid

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from cdp.cli import app
from cdp.ingest.sources import find_source
from cdp.settings import Settings

pytestmark = pytest.mark.integration


def test_create_list_disable(
    base_settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert base_settings.database_url is not None
    monkeypatch.setenv("CDP_DATABASE_URL", base_settings.database_url.get_secret_value())
    monkeypatch.setenv("CDP_HOME", str(base_settings.home))
    runner = CliRunner()
    name = f"web-{uuid.uuid4().hex[:6]}"

    created = runner.invoke(app, ["sources", "create", name])
    assert created.exit_code == 0, created.output
    key = created.output.split("write key:")[1].strip()
    source = find_source(engine, key)
    assert source is not None
    assert source.enabled

    listed = runner.invoke(app, ["sources", "list"], terminal_width=200)
    assert name in listed.output
    assert key not in listed.output, "the write key is shown once, at creation"

    assert runner.invoke(app, ["sources", "create", name]).exit_code == 2
    assert runner.invoke(app, ["sources", "disable", name]).exit_code == 0
    disabled = find_source(engine, key)
    assert disabled is not None
    assert not disabled.enabled
    assert runner.invoke(app, ["sources", "disable", "no-such-source"]).exit_code == 2
