"""Dead letters decoded for a browser, counted by reason, and turned back into raw records."""

from __future__ import annotations

import orjson
import pytest

from cdp.deadletter import DeadLetter, encode_dead_letter
from cdp.ingest.validate import BatchContext, validate_batch
from cdp.ops.deadletters import Letter, count_letters, replay_record
from cdp.ops.errors import ReplayRefused
from cdp.schemas import DEAD_LETTER, EVENT, codec_for
from cdp.settings import Limits, Settings

SETTINGS = Settings()
CODEC = codec_for(SETTINGS)
FAILED_AT = 1_800_000_000_000


def letter(stage: str, reason: str, payload: bytes, offset: int = 7, **extra: str) -> Letter:
    encoded = encode_dead_letter(
        CODEC, DeadLetter(stage, reason, "why", payload, **extra), FAILED_AT
    )
    return Letter(0, offset, CODEC.decode(DEAD_LETTER, encoded))


def test_a_letter_shows_its_json_payload_and_time() -> None:
    shown = letter("collector", "missing_event", b'{"type":"track","userId":"u1"}').as_json()
    assert shown["stage"] == "collector"
    assert shown["reason"] == "missing_event"
    assert shown["payload"] == {"type": "track", "userId": "u1"}
    assert shown["failed_at"].startswith("2027-01-15T08:00:00")
    assert (shown["partition"], shown["offset"]) == (0, 7)


def test_a_letter_with_a_binary_payload_shows_hex() -> None:
    shown = letter("processor", "undecodable", b"\x00\x00\x00\x00\x01garbage").as_json()
    assert shown["payload"] == {"binary": b"\x00\x00\x00\x00\x01garbage".hex()}


def test_letters_are_counted_per_stage_and_reason_most_frequent_first() -> None:
    letters = [
        letter("collector", "missing_event", b"{}"),
        letter("processor", "undecodable", b"x"),
        letter("collector", "missing_event", b"{}"),
    ]
    assert count_letters(letters) == [
        {"stage": "collector", "reason": "missing_event", "count": 2},
        {"stage": "processor", "reason": "undecodable", "count": 1},
    ]


def test_a_collector_letter_still_invalid_is_refused_with_the_reason() -> None:
    bad = letter("collector", "missing_event", b'{"type":"track","userId":"u1"}')
    with pytest.raises(ReplayRefused, match="missing_event"):
        replay_record(CODEC, SETTINGS, bad)


def test_a_fixed_collector_letter_becomes_a_raw_event_with_a_stable_message_id() -> None:
    """A letter refused under an old rule replays once valid, through the endpoint it came by."""
    fixed = letter(
        "collector", "old_rule", b'{"userId":"u1","event":"Signed Up"}', origin="/v1/track"
    )
    key, value = replay_record(CODEC, SETTINGS, fixed)
    event = CODEC.decode(EVENT, value)
    assert key == b"u1"
    assert (event["type"], event["event"], event["user_id"]) == ("track", "Signed Up", "u1")
    assert event["message_id"] == "dlq-0-7"
    assert replay_record(CODEC, SETTINGS, fixed)[1] == value


def test_a_processor_letter_goes_back_byte_for_byte_keyed_by_its_user() -> None:
    oks, _ = validate_batch(
        [{"type": "track", "event": "E", "anonymousId": "a1"}],
        BatchContext("src", FAILED_AT, Limits()),
    )
    raw = CODEC.encode(EVENT, oks[0].envelope)
    assert replay_record(CODEC, SETTINGS, letter("processor", "processing_failed", raw)) == (
        b"a1",
        raw,
    )


def test_an_undecodable_processor_letter_is_refused() -> None:
    with pytest.raises(ReplayRefused, match="undecodable"):
        replay_record(CODEC, SETTINGS, letter("processor", "undecodable", b"not avro"))


def test_letters_of_other_stages_are_not_replayed_to_the_raw_topic() -> None:
    with pytest.raises(ReplayRefused, match="delivery"):
        replay_record(CODEC, SETTINGS, letter("delivery", "aborted", orjson.dumps({})))
