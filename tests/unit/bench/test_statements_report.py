"""Postgres time by statement, as `cdp bench pipeline --statements` groups and reports it."""

from __future__ import annotations

from cdp.bench.statements import LABEL_CHARS, OTHER, StatementTime, label, top_statements
from tests.unit.bench.reports import a_report, a_run, table_text

MERGE = "MERGE INTO computed_trait_values AS stored USING (WITH batch AS (SELECT raw.profile_id"


def test_a_label_is_the_start_of_the_text_with_its_whitespace_collapsed() -> None:
    assert label("COPY events\n    (profile_id, type)\tFROM STDIN") == (
        "COPY events (profile_id, type) FROM STDIN"
    )
    long = label(MERGE + " FROM json_to_recordset($1::json)")
    assert len(long) == LABEL_CHARS
    assert long.endswith("…")
    assert long[:-1] == MERGE[: LABEL_CHARS - 1]


def test_statements_of_one_label_are_summed_and_ranked_by_time() -> None:
    rows = [
        ("INSERT INTO processed_messages (message_id) SELECT m", 40, 200_000, 900.0),
        (MERGE + " a, b", 20, 1_000, 700.0),
        (MERGE + " a, c", 30, 2_000, 600.0),
        ("SELECT 1", 5, 5, 1.0),
    ]
    assert top_statements(rows) == (
        StatementTime(label(MERGE), 50, 3_000, 1300.0),
        StatementTime("INSERT INTO processed_messages (message_id) SELECT m", 40, 200_000, 900.0),
        StatementTime("SELECT 1", 5, 5, 1.0),
    )


def test_past_the_shown_ones_the_rest_are_one_entry() -> None:
    rows = [(f"SELECT {n}", 1, n, float(n)) for n in range(1, 6)]
    found = top_statements(rows, shown=2)
    assert [s.statement for s in found] == ["SELECT 5", "SELECT 4", OTHER]
    assert found[-1] == StatementTime(OTHER, 3, 6, 6.0)


def test_the_report_gives_ms_per_1000_events_and_shares() -> None:
    run = a_run(
        statements=(
            StatementTime("MERGE INTO x", 10, 10, 300.0),
            StatementTime("COPY y", 5, 5, 100.0),
        )
    )
    assert [(s.statement, per, share) for s, per, share in run.statements_per_1000()] == [
        ("MERGE INTO x", 150.0, 0.75),
        ("COPY y", 50.0, 0.25),
    ]
    text = table_text(a_report(run))
    assert "200.0 ms per 1,000 events in all" in text
    assert "75.0%  150.0 ms" in text
    assert "MERGE INTO x (10 calls)" in text
    throughput = a_report(run).as_json()["throughput"]
    assert isinstance(throughput, dict)
    assert throughput["postgres_statements"][0] == {
        "statement": "MERGE INTO x",
        "calls": 10,
        "rows": 10,
        "ms": 300.0,
        "ms_per_1000_events": 150.0,
        "share": 0.75,
    }


def test_no_statements_no_rows() -> None:
    report = a_report(a_run())
    assert "Postgres time by statement" not in table_text(report)
    throughput = report.as_json()["throughput"]
    assert isinstance(throughput, dict)
    assert "postgres_statements" not in throughput
