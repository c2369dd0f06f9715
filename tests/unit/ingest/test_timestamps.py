from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdp.ingest.timestamps import InvalidTimestamp, event_times, parse_timestamp, to_millis

RECEIVED = to_millis(datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC))


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def test_skew_is_removed_when_sent_at_is_present() -> None:
    client_clock_ahead = 3_600_000
    sent = RECEIVED + client_clock_ahead
    original = sent - 5_000

    times = event_times({"timestamp": iso(original), "sentAt": iso(sent)}, RECEIVED)

    assert times.timestamp == RECEIVED - 5_000
    assert times.sent_at == sent
    assert times.original_timestamp == original


def test_original_timestamp_wins_over_timestamp() -> None:
    times = event_times(
        {
            "originalTimestamp": iso(RECEIVED - 1_000),
            "timestamp": iso(RECEIVED - 9_000),
            "sentAt": iso(RECEIVED),
        },
        RECEIVED,
    )
    assert times.timestamp == RECEIVED - 1_000


def test_historical_import_without_sent_at_keeps_its_timestamp() -> None:
    old = RECEIVED - 90 * 24 * 3_600_000
    assert event_times({"timestamp": iso(old)}, RECEIVED).timestamp == old


def test_without_any_client_time_the_event_time_is_received_at() -> None:
    assert event_times({}, RECEIVED).timestamp == RECEIVED
    assert event_times({"sentAt": iso(RECEIVED - 50)}, RECEIVED).timestamp == RECEIVED


def test_batch_level_sent_at_applies_to_items_without_their_own() -> None:
    times = event_times(
        {"timestamp": iso(RECEIVED + 10_000)}, RECEIVED, batch_sent_at=iso(RECEIVED + 12_000)
    )
    assert times.timestamp == RECEIVED - 2_000


def test_naive_iso_is_utc_and_zulu_is_understood() -> None:
    assert parse_timestamp("2026-11-23T12:00:00", "t") == RECEIVED
    assert parse_timestamp("2026-11-23T12:00:00Z", "t") == RECEIVED
    assert parse_timestamp("2026-11-23T13:00:00+01:00", "t") == RECEIVED


def test_epoch_millis_are_accepted() -> None:
    assert parse_timestamp(RECEIVED, "t") == RECEIVED


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-45", True, {"t": 1}, [1]])
def test_garbage_is_an_invalid_timestamp(bad: object) -> None:
    with pytest.raises(InvalidTimestamp):
        parse_timestamp(bad, "timestamp")


@given(
    skew=st.integers(min_value=-10 * 86_400_000, max_value=10 * 86_400_000),
    delay=st.integers(min_value=0, max_value=86_400_000),
)
def test_corrected_time_is_received_at_minus_the_client_side_delay(skew: int, delay: int) -> None:
    """Whatever the client's clock says, only the delay it measured itself is kept."""
    sent = RECEIVED + skew
    times = event_times({"timestamp": iso(sent - delay), "sentAt": iso(sent)}, RECEIVED)
    assert abs(times.timestamp - (RECEIVED - delay)) <= 1


def test_iso_rendering_round_trips() -> None:
    moment = datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert parse_timestamp(moment.isoformat(), "t") == to_millis(moment)
    assert parse_timestamp((moment + timedelta(0)).isoformat(), "t") == to_millis(moment)


@pytest.mark.parametrize(
    "value",
    [9.223372036854776e18, 2**63, -(2**63), 253_402_300_800_000, float("inf"), float("nan")],
)
def test_numbers_outside_the_years_1_to_9999_are_refused(value: float) -> None:
    with pytest.raises(InvalidTimestamp, match="timestamp"):
        parse_timestamp(value, "timestamp")


def test_a_skew_correction_that_leaves_the_years_1_to_9999_is_refused() -> None:
    item: dict[str, object] = {"timestamp": 253_402_300_799_999, "sentAt": -62_135_596_800_000}
    with pytest.raises(InvalidTimestamp, match="skew-corrected"):
        event_times(item, received_at=1_714_521_600_000)


@given(st.integers(min_value=-62_135_596_800_000, max_value=253_402_300_799_999))
def test_every_millisecond_of_the_years_1_to_9999_is_accepted(millis: int) -> None:
    assert parse_timestamp(millis, "timestamp") == millis
