"""`cdp bench activation` at a tiny scale, on the session's broker and Postgres."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from cdp.bench.activation import ActivationOptions, run_activation_bench
from cdp.bench.activation_report import render_activation_table, write_activation_report

pytestmark = pytest.mark.integration

PROFILES = 2_000


@pytest.mark.usefixtures("session_services")
def test_the_activation_bench_reports_sane_figures(tmp_path: Path) -> None:
    options = ActivationOptions(rate=400.0, latency_seconds=3.0, profiles=PROFILES, seed=7)

    report = run_activation_bench(options, announce=lambda _: None)

    lat, backfill = report.latency, report.backfill
    assert lat is not None
    assert backfill is not None
    assert lat.events == 1_200
    assert lat.expected_changes > lat.events // 4, "every user enters `active`, most `buyers`"
    assert lat.matched_changes == lat.expected_changes
    assert lat.unexpected_changes == 0
    ms = lat.latencies_ms
    assert ms["min"] is not None
    assert ms["p50"] is not None
    assert ms["p99"] is not None
    assert ms["max"] is not None
    assert 0 < ms["min"] <= ms["p50"] <= ms["p99"] <= ms["max"] < 60_000
    assert lat.by_segment_p99_ms["whales"] is None, "nobody spends a million"

    assert backfill.evaluated == PROFILES
    assert 0 < backfill.expected_members < PROFILES
    assert backfill.members == backfill.expected_members
    assert backfill.outbox_rows == backfill.members, "one row per entry, fanned out by the relay"
    assert backfill.seconds > 0
    assert backfill.profiles_per_s == pytest.approx(PROFILES / backfill.seconds)

    written = orjson.loads(write_activation_report(report, tmp_path).read_bytes())
    assert written["backfill"]["members"] == backfill.members
    assert written["latency"]["matched_changes"] == lat.matched_changes
    assert set(written["goals_met"]) == {"p99_latency", "backfill_per_s"}
    assert render_activation_table(report).row_count > 5
