"""Rows written per table, as `cdp bench pipeline` reports them per 1,000 events."""

from __future__ import annotations

from tests.unit.bench.reports import a_report, a_run, table_text


def test_per_1000_events_largest_first() -> None:
    run = a_run(rows={"outbox": 500, "events": 2_000, "processed_messages": 2_000, "merges": 1})
    assert list(run.rows_per_1000().items()) == [
        ("events", 1000.0),
        ("processed_messages", 1000.0),
        ("outbox", 250.0),
        ("merges", 0.5),
    ]


def test_the_row_shows_the_total_and_the_tables_of_one_row_or_more() -> None:
    report = a_report(a_run(rows={"outbox": 500, "events": 2_000, "merges": 1}))
    assert "1,250: events 1,000, outbox 250" in table_text(report)
    throughput = report.as_json()["throughput"]
    assert isinstance(throughput, dict)
    assert throughput["rows_written"] == {"outbox": 500, "events": 2_000, "merges": 1}


def test_no_counts_no_row() -> None:
    assert "rows written" not in table_text(a_report(a_run()))
