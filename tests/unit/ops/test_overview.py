"""Lag against the ends read to EOF, throughput between two snapshots, segment history."""

from __future__ import annotations

from cdp.ops.offsets import PartitionLag, lag_rows
from cdp.ops.overview import rates


def test_lag_is_the_end_minus_the_stored_offset_per_group_and_partition() -> None:
    stored = [("proc", "raw", 1, 10), ("proc", "raw", 0, 5), ("other", "t", 0, 3)]
    ends = {"raw": {0: (0, 5), 1: (0, 25)}, "t": {0: (0, 9)}}
    assert lag_rows(stored, ends) == [
        PartitionLag("other", "t", 0, 3, 9),
        PartitionLag("proc", "raw", 0, 5, 5),
        PartitionLag("proc", "raw", 1, 10, 25),
    ]
    assert [r.lag for r in lag_rows(stored, ends)] == [6, 0, 15]


def test_a_partition_the_broker_does_not_report_has_no_lag() -> None:
    [row] = lag_rows([("proc", "gone", 0, 4)], {})
    assert row.lag == 0


def test_rates_are_the_change_in_offsets_over_the_change_in_time() -> None:
    before = {"at": 100.0, "produced": 1_000, "applied": 900}
    after = {"at": 102.0, "produced": 1_300, "applied": 1_200}
    assert rates(before, after) == {"produced_per_s": 150.0, "applied_per_s": 150.0}
    assert rates(after, after) == {"produced_per_s": 0.0, "applied_per_s": 0.0}
