"""`cdp status --once`: one frame rendered from two snapshots."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

import cdp.cli.status as status_cli
from cdp.cli import app
from cdp.settings import Settings


def snapshot(at: float, produced: int, applied: int, **extra: Any) -> dict[str, Any]:
    return {
        "at": at,
        "produced": produced,
        "applied": applied,
        "lag": [
            {"group": "cdp-processor", "topic": "cdp.events.raw", "partition": 0,
             "committed": applied, "end": produced, "lag": produced - applied},
        ],
        "outbox_backlog": 4,
        "profiles": 1234,
        "dead_letters": {
            "total": 3,
            "counted": 3,
            "by_reason": [{"stage": "collector", "reason": "missing_event", "count": 3}],
        },
        "segments": [
            {"slug": "runners", "state": "active", "backfilled": True, "size": 42},
        ],
        "destinations": None,
        **extra,
    }  # fmt: skip


def run_once(monkeypatch: pytest.MonkeyPatch, frames: list[dict[str, Any]]) -> str:
    given = iter(frames)
    monkeypatch.setattr(status_cli, "take_snapshot", lambda _settings: next(given))
    monkeypatch.setenv("COLUMNS", "160")
    result = CliRunner().invoke(app, ["status", "--once", "--interval", "0.2"])
    assert result.exit_code == 0, result.output
    return result.output


def test_one_frame_shows_throughput_lag_dead_letters_segments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = run_once(monkeypatch, [snapshot(100.0, 1000, 900), snapshot(102.0, 1300, 1100)])
    assert "150.0" in out
    assert "100.0" in out
    assert "cdp-processor" in out
    assert "200" in out
    assert "missing_event" in out
    assert "runners" in out
    assert "42" in out
    assert "1,234" in out
    assert "Destinations: none configured" in out


def test_destinations_are_listed_when_the_table_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    dest = [{"name": "crm-webhook", "kind": "webhook", "enabled": True}]
    out = run_once(
        monkeypatch,
        [snapshot(1.0, 0, 0, destinations=dest), snapshot(2.0, 0, 0, destinations=dest)],
    )
    assert "crm-webhook" in out
    assert "none configured" not in out


def test_an_idle_pipeline_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    idle = snapshot(1.0, 0, 0, lag=[], segments=[])
    idle["dead_letters"] = {"total": 0, "counted": 0, "by_reason": []}
    out = run_once(monkeypatch, [idle, {**idle, "at": 2.0}])
    assert "no consumer has stored offsets yet" in out
    assert "Dead letters: none" in out
    assert "Segments: none defined" in out


def test_settings_are_taken_from_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Settings] = []

    def take(settings: Settings) -> dict[str, Any]:
        seen.append(settings)
        return snapshot(float(len(seen)), 0, 0)

    monkeypatch.setattr(status_cli, "take_snapshot", take)
    monkeypatch.setenv("CDP_TOPICS__RAW", "custom.raw")
    assert CliRunner().invoke(app, ["status", "--once", "--interval", "0.2"]).exit_code == 0
    assert [s.topics.raw for s in seen] == ["custom.raw", "custom.raw"]
