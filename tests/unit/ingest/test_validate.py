from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdp.ingest.validate import BatchContext, validate_batch
from cdp.settings import Limits

BATCH = BatchContext(source_id="src_1", received_at=1_800_000_000_000, limits=Limits())


def one(
    item: Any, forced: str | None = None, batch: BatchContext = BATCH
) -> tuple[list[Any], list[Any]]:
    return validate_batch([item], batch, forced)


def test_valid_track_becomes_an_envelope_keyed_by_anonymous_id() -> None:
    [ok], errs = one(
        {
            "type": "track",
            "userId": "u1",
            "anonymousId": "a1",
            "event": "Viewed",
            "properties": {"sku": "x"},
        }
    )
    assert errs == []
    assert ok.key == b"a1", "one device's events share a partition, logged in or not"
    assert ok.envelope["event"] == "Viewed"
    assert orjson.loads(ok.envelope["properties"]) == {"sku": "x"}
    assert ok.envelope["source_id"] == "src_1"


def test_key_falls_back_to_user_id() -> None:
    [ok], _ = one({"type": "track", "userId": "u1", "event": "Order Completed"})
    assert ok.key == b"u1"


def test_a_devices_anonymous_events_and_every_login_on_it_share_a_key() -> None:
    story = [
        {"type": "page", "anonymousId": "tablet"},
        {"type": "identify", "anonymousId": "tablet", "userId": "alice"},
        {"type": "track", "anonymousId": "tablet", "userId": "alice", "event": "Viewed"},
        {"type": "identify", "anonymousId": "tablet", "userId": "bob"},
    ]
    oks, errs = validate_batch(story, BATCH)
    assert errs == []
    assert {ok.key for ok in oks} == {b"tablet"}


def test_numeric_ids_are_kept_as_text() -> None:
    [ok], _ = one({"type": "identify", "userId": 12345, "messageId": 7})
    assert ok.envelope["user_id"] == "12345"
    assert ok.envelope["message_id"] == "7"


def test_path_type_overrides_the_body_type() -> None:
    [ok], _ = one({"type": "identify", "userId": "u", "event": "e"}, forced="track")
    assert ok.envelope["type"] == "track"


def test_unknown_top_level_fields_travel_in_extra() -> None:
    [ok], _ = one({"type": "track", "userId": "u", "event": "e", "channel": "server", "version": 2})
    assert orjson.loads(ok.envelope["extra"]) == {"channel": "server", "version": 2}


def test_batch_context_is_a_default_under_the_items_own_keys() -> None:
    batch = BatchContext(
        "s",
        1,
        Limits(),
        context={"library": {"name": "x"}, "locale": "en"},
        integrations={"All": False},
    )
    [ok], _ = one(
        {"type": "track", "userId": "u", "event": "e", "context": {"locale": "de"}}, batch=batch
    )
    assert orjson.loads(ok.envelope["context"]) == {"library": {"name": "x"}, "locale": "de"}
    assert orjson.loads(ok.envelope["integrations"]) == {"All": False}


def test_client_ip_is_added_unless_the_sdk_sent_one() -> None:
    batch = BatchContext("s", 1, Limits(), ip="10.1.2.3")
    [ok], _ = one({"type": "track", "userId": "u", "event": "e"}, batch=batch)
    [kept], _ = one(
        {"type": "track", "userId": "u", "event": "e", "context": {"ip": "1.1.1.1"}}, batch=batch
    )
    assert orjson.loads(ok.envelope["context"])["ip"] == "10.1.2.3"
    assert orjson.loads(kept.envelope["context"])["ip"] == "1.1.1.1"


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"type": "track", "event": "e"}, "missing_identity"),
        ({"type": "track", "userId": "  ", "event": "e"}, "missing_identity"),
        ({"type": "track", "userId": True, "event": "e"}, "invalid_identity"),
        ({"type": "track", "userId": "u"}, "missing_event"),
        ({"type": "track", "userId": "u", "event": ""}, "missing_event"),
        ({"type": "alias", "userId": "u"}, "missing_previous_id"),
        ({"type": "group", "userId": "u"}, "missing_group_id"),
        ({"type": "merge", "userId": "u"}, "unknown_type"),
        ({"userId": "u"}, "missing_type"),
        ({"type": "track", "userId": "u", "event": "e", "traits": "x"}, "invalid_field"),
        ({"type": "track", "userId": "u", "event": ["e"]}, "invalid_field"),
        ({"type": "track", "userId": "u", "event": "e", "sentAt": "soon"}, "invalid_timestamp"),
        (42, "not_an_object"),
    ],
)
def test_spec_violations_are_rejected_with_a_reason(item: Any, reason: str) -> None:
    oks, [err] = one(item)
    assert oks == []
    assert err.reason == reason
    assert err.message
    assert orjson.loads(err.payload) == item


def test_event_size_limit_applies_per_item() -> None:
    limits = Limits(max_event_bytes=200)
    batch = BatchContext("s", 1, limits)
    small = {"type": "track", "userId": "u", "event": "e"}
    big = {**small, "properties": {"pad": "x" * 300}}
    oks, errs = validate_batch([small, big], batch)
    assert len(oks) == 1
    assert [e.reason for e in errs] == ["event_too_large"]


@given(
    st.lists(
        st.one_of(
            st.none(),
            st.integers(),
            st.text(max_size=5),
            st.dictionaries(st.text(max_size=5), st.text(max_size=5)),
        ),
        max_size=20,
    )
)
def test_every_item_ends_up_accepted_or_rejected_never_lost(items: list[Any]) -> None:
    oks, errs = validate_batch(items, BATCH)
    assert len(oks) + len(errs) == len(items)


def test_batch_sent_at_is_parsed_once_and_applies_to_items_without_their_own() -> None:
    batch = BatchContext("s", 1_800_000_000_000, Limits(), sent_at="2027-01-15T08:00:10Z")
    items = [
        {"type": "track", "userId": "u", "event": "e", "timestamp": "2027-01-15T08:00:00Z"},
        {"type": "track", "userId": "u", "event": "e", "timestamp": "2027-01-15T08:00:00Z",
         "sentAt": None},
    ]  # fmt: skip
    [with_batch, own_null], errs = validate_batch(items, batch)
    assert errs == []
    assert with_batch.envelope["timestamp"] == 1_800_000_000_000 - 10_000
    assert own_null.envelope["sent_at"] is None


def test_an_invalid_batch_sent_at_fails_only_the_items_that_rely_on_it() -> None:
    batch = BatchContext("s", 1, Limits(), sent_at="soon")
    items = [
        {"type": "track", "userId": "u", "event": "e", "messageId": "relies"},
        {"type": "track", "userId": "u", "event": "e", "sentAt": "2027-01-15T08:00:10Z"},
    ]
    oks, errs = validate_batch(items, batch)
    assert len(oks) == 1
    [err] = errs
    assert (err.reason, err.message_id) == ("invalid_timestamp", "relies")
    assert err.message == "sentAt 'soon' is not an ISO 8601 timestamp"
