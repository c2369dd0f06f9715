"""`cdp traits apply|list|delete` against the real Postgres."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cdp.cli import app
from cdp.settings import Settings

pytestmark = pytest.mark.integration


def test_apply_list_delete(
    base_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert base_settings.database_url is not None
    monkeypatch.setenv("CDP_DATABASE_URL", base_settings.database_url.get_secret_value())
    monkeypatch.setenv("CDP_HOME", str(base_settings.home))
    runner = CliRunner()
    name = f"ltv_{uuid.uuid4().hex[:6]}"
    path = tmp_path / "traits.yaml"
    path.write_text(f"traits:\n  - {{name: {name}, kind: sum, property: revenue}}\n")

    applied = runner.invoke(app, ["traits", "apply", str(path)])
    assert applied.exit_code == 0, applied.output
    assert f"{name}: created (version 1" in applied.output
    again = runner.invoke(app, ["traits", "apply", str(path)])
    assert f"{name}: unchanged (version 1)" in again.output
    listed = runner.invoke(app, ["traits", "list"], terminal_width=250)
    assert name in listed.output

    path.write_text(f"traits:\n  - {{name: {name}, kind: sum}}\n")
    refused = runner.invoke(app, ["traits", "apply", str(path)])
    assert refused.exit_code == 2
    assert "traits[0]: sum needs a property" in refused.output

    assert runner.invoke(app, ["traits", "delete", name]).exit_code == 0
    assert runner.invoke(app, ["traits", "delete", name]).exit_code == 2
