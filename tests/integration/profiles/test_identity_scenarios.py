"""Identity resolution through the real processor: Kafka in, Postgres out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cdp.db import create_engine
from cdp.identity import Identifier
from cdp.privacy.keystate import pii_codec
from cdp.profiles.read import profile_merges
from cdp.settings import Settings
from tests.integration.profiles.conftest import EventSender, RunningProcessor, query

pytestmark = pytest.mark.integration

T0 = "2026-11-20T10:00:00+00:00"


def at(minute: int) -> str:
    return f"2026-11-20T10:{minute:02d}:00+00:00"


def stored(settings: Settings, id_type: str, value: str) -> str:
    """The `id_value` an identifier is stored under (its match value)."""
    return pii_codec(settings).match(Identifier(id_type, value)).value


def profile_of(settings: Settings, id_type: str, value: str) -> int | None:
    rows = query(
        settings,
        "SELECT profile_id FROM identifiers WHERE id_type = %s AND id_value = %s",
        id_type,
        stored(settings, id_type, value),
    )
    return rows[0][0] if rows else None


def live_profiles(settings: Settings) -> int:
    return int(query(settings, "SELECT count(*) FROM profiles WHERE merged_into IS NULL")[0][0])


def timeline(settings: Settings, profile_id: int | None) -> list[str]:
    return [
        r[0]
        for r in query(
            settings,
            "SELECT message_id FROM events WHERE profile_id = %s ORDER BY event_time",
            profile_id,
        )
    ]


def traits(settings: Settings, profile_id: int | None) -> dict[str, Any]:
    stored_traits = query(settings, "SELECT traits FROM profiles WHERE id = %s", profile_id)[0][0]
    return dict(pii_codec(settings).open_document(stored_traits))


def test_anonymous_browsing_then_login_is_one_profile(
    pipeline_settings: Settings,
    sender: EventSender,
    processor: RunningProcessor,
    processed: Callable[[], None],
) -> None:
    sender.send(
        {
            "type": "page",
            "anonymousId": "anon-1",
            "name": "Running shoes",
            "messageId": "m1",
            "timestamp": at(1),
        },
        {
            "type": "track",
            "anonymousId": "anon-1",
            "event": "Product Viewed",
            "messageId": "m2",
            "timestamp": at(2),
        },
    )
    processed()
    sender.send(
        {
            "type": "identify",
            "anonymousId": "anon-1",
            "userId": "jane",
            "traits": {"email": " Jane@Example.com "},
            "messageId": "m3",
            "timestamp": at(3),
        }
    )
    processed()

    jane = profile_of(pipeline_settings, "user_id", "jane")
    assert jane is not None
    assert profile_of(pipeline_settings, "anonymous_id", "anon-1") == jane
    assert profile_of(pipeline_settings, "email", "jane@example.com") == jane
    assert live_profiles(pipeline_settings) == 1
    assert timeline(pipeline_settings, jane) == ["m1", "m2", "m3"]


def test_second_device_merges_into_the_oldest_profile_and_moves_its_timeline(
    pipeline_settings: Settings,
    sender: EventSender,
    processor: RunningProcessor,
    processed: Callable[[], None],
) -> None:
    sender.send(
        {
            "type": "identify",
            "anonymousId": "laptop",
            "userId": "sam",
            "messageId": "a1",
            "timestamp": at(1),
        }
    )
    processed()
    sender.send(
        {
            "type": "track",
            "anonymousId": "phone",
            "event": "App Opened",
            "messageId": "b1",
            "timestamp": at(2),
        }
    )
    processed()
    phone_profile = profile_of(pipeline_settings, "anonymous_id", "phone")
    sam = profile_of(pipeline_settings, "user_id", "sam")
    assert phone_profile != sam

    sender.send(
        {
            "type": "identify",
            "anonymousId": "phone",
            "userId": "sam",
            "messageId": "b2",
            "timestamp": at(3),
        }
    )
    processed()

    assert profile_of(pipeline_settings, "anonymous_id", "phone") == sam
    assert timeline(pipeline_settings, sam) == ["a1", "b1", "b2"]
    assert timeline(pipeline_settings, phone_profile) == []
    merged = query(pipeline_settings, "SELECT from_profile, into_profile, message_id FROM merges")
    assert merged == [(phone_profile, sam, "b2")]
    assert query(
        pipeline_settings, "SELECT merged_into FROM profiles WHERE id = %s", phone_profile
    ) == [(sam,)]


def merge_within_one_batch(
    settings: Settings, sender: EventSender, processed: Callable[[], None]
) -> tuple[int, int]:
    """Sam logs in on a laptop; later a phone browses and logs in, both events read in one batch,
    so the phone's profile is made and merged away inside that batch. (sam, phone profile)."""
    sender.send(
        {"type": "identify", "anonymousId": "laptop", "userId": "sam", "messageId": "a1",
         "timestamp": at(1)},
    )  # fmt: skip
    with RunningProcessor(settings):
        processed()
    sender.send(
        {"type": "track", "anonymousId": "phone", "event": "App Opened", "messageId": "b1",
         "timestamp": at(2)},
        {"type": "identify", "anonymousId": "phone", "userId": "sam", "messageId": "b2",
         "timestamp": at(3)},
    )  # fmt: skip
    with RunningProcessor(settings):
        processed()
    sam = profile_of(settings, "user_id", "sam")
    assert sam is not None
    [(phone,)] = query(settings, "SELECT id FROM profiles WHERE merged_into = %s", sam)
    return sam, phone


def test_a_profile_made_and_merged_away_in_one_batch_is_in_the_merge_history(
    pipeline_settings: Settings, sender: EventSender, processed: Callable[[], None]
) -> None:
    """Its events and identifiers were real: the merge is recorded like any other, so the
    survivor's merge_count and its `/merges` history agree."""
    sam, phone = merge_within_one_batch(pipeline_settings, sender, processed)

    assert profile_of(pipeline_settings, "anonymous_id", "phone") == sam
    assert timeline(pipeline_settings, sam) == ["a1", "b1", "b2"]
    assert query(pipeline_settings, "SELECT merge_count FROM profiles WHERE id = %s", sam) == [(1,)]
    assert query(
        pipeline_settings, "SELECT from_profile, into_profile, message_id FROM merges"
    ) == [(phone, sam, "b2")]
    engine = create_engine(pipeline_settings, pool_size=1)
    try:
        with engine.connect() as conn:
            history = profile_merges(conn, sam)
            away = profile_merges(conn, phone)
    finally:
        engine.dispose()
    assert [(m["from_profile"], m["into_profile"]) for m in history] == [(str(phone), str(sam))]
    assert away == history


def test_second_user_on_a_shared_device_is_not_merged_with_the_first(
    pipeline_settings: Settings,
    sender: EventSender,
    processor: RunningProcessor,
    processed: Callable[[], None],
) -> None:
    sender.send(
        {
            "type": "identify",
            "anonymousId": "kiosk",
            "userId": "alice",
            "messageId": "k1",
            "timestamp": at(1),
        }
    )
    processed()
    sender.send(
        {
            "type": "identify",
            "anonymousId": "kiosk",
            "userId": "bob",
            "messageId": "k2",
            "timestamp": at(2),
        }
    )
    processed()

    alice = profile_of(pipeline_settings, "user_id", "alice")
    bob = profile_of(pipeline_settings, "user_id", "bob")
    assert alice is not None
    assert bob is not None
    assert alice != bob
    assert profile_of(pipeline_settings, "anonymous_id", "kiosk") == alice
    assert timeline(pipeline_settings, bob) == ["k2"]
    assert query(pipeline_settings, "SELECT count(*) FROM merges") == [(0,)]


def test_email_change_keeps_both_emails_on_the_profile(
    pipeline_settings: Settings,
    sender: EventSender,
    processor: RunningProcessor,
    processed: Callable[[], None],
) -> None:
    sender.send(
        {
            "type": "identify",
            "userId": "u7",
            "traits": {"email": "old@example.com"},
            "messageId": "e1",
            "timestamp": at(1),
        },
        {
            "type": "identify",
            "userId": "u7",
            "traits": {"email": "new@example.com"},
            "messageId": "e2",
            "timestamp": at(2),
        },
    )
    processed()

    u7 = profile_of(pipeline_settings, "user_id", "u7")
    assert profile_of(pipeline_settings, "email", "old@example.com") == u7
    assert profile_of(pipeline_settings, "email", "new@example.com") == u7
    assert traits(pipeline_settings, u7)["email"] == "new@example.com"


def test_alias_merges_the_previous_identity(
    pipeline_settings: Settings,
    sender: EventSender,
    processor: RunningProcessor,
    processed: Callable[[], None],
) -> None:
    sender.send(
        {
            "type": "track",
            "anonymousId": "visitor-9",
            "event": "Viewed",
            "messageId": "v1",
            "timestamp": at(1),
        }
    )
    processed()
    sender.send(
        {
            "type": "track",
            "userId": "carol",
            "event": "Logged In",
            "messageId": "v2",
            "timestamp": at(2),
        }
    )
    processed()
    sender.send(
        {
            "type": "alias",
            "userId": "carol",
            "previousId": "visitor-9",
            "messageId": "v3",
            "timestamp": at(3),
        }
    )
    processed()

    carol = profile_of(pipeline_settings, "user_id", "carol")
    assert profile_of(pipeline_settings, "anonymous_id", "visitor-9") == carol
    assert live_profiles(pipeline_settings) == 1
    assert sorted(timeline(pipeline_settings, carol)) == ["v1", "v2", "v3"]


def test_junk_identifiers_are_ignored(
    pipeline_settings: Settings,
    sender: EventSender,
    processor: RunningProcessor,
    processed: Callable[[], None],
) -> None:
    sender.send(
        {
            "type": "identify",
            "userId": "null",
            "anonymousId": "dev-1",
            "traits": {"email": "undefined"},
            "messageId": "j1",
        },
        {"type": "identify", "userId": "null", "anonymousId": "dev-2", "messageId": "j2"},
    )
    processed()

    junk = [
        stored(pipeline_settings, t, v) for t in ("user_id", "email") for v in ("null", "undefined")
    ]
    assert query(
        pipeline_settings, "SELECT count(*) FROM identifiers WHERE id_value = ANY(%s)", junk
    ) == [(0,)]
    assert profile_of(pipeline_settings, "anonymous_id", "dev-1") != profile_of(
        pipeline_settings, "anonymous_id", "dev-2"
    )
    assert live_profiles(pipeline_settings) == 2


def test_limit_on_user_ids_forces_a_new_profile_instead_of_a_merge(
    pipeline_settings: Settings,
    sender: EventSender,
    processor: RunningProcessor,
    processed: Callable[[], None],
) -> None:
    sender.send(
        {
            "type": "identify",
            "userId": "dana",
            "traits": {"email": "family@example.com"},
            "messageId": "f1",
            "timestamp": at(1),
        }
    )
    processed()
    sender.send(
        {
            "type": "identify",
            "userId": "eli",
            "traits": {"email": "family@example.com"},
            "messageId": "f2",
            "timestamp": at(2),
        }
    )
    processed()

    dana = profile_of(pipeline_settings, "user_id", "dana")
    eli = profile_of(pipeline_settings, "user_id", "eli")
    assert dana != eli
    assert profile_of(pipeline_settings, "email", "family@example.com") == dana
    assert query(
        pipeline_settings,
        "SELECT count(*) FROM identifiers i JOIN identifiers j ON i.profile_id = j.profile_id "
        "AND i.id_type = 'user_id' AND j.id_type = 'user_id' AND i.id_value < j.id_value",
    ) == [(0,)]


def test_a_shared_device_read_from_a_backlog_keeps_each_persons_history_apart(
    pipeline_settings: Settings, sender: EventSender, processed: Callable[[], None]
) -> None:
    """The whole story is on the topic before the processor starts, as after an outage: however
    the processor paces its partitions, Bob's later login on Alice's tablet must not take
    Alice's anonymous browsing on it."""
    sender.send(
        {"type": "page", "anonymousId": "tablet", "messageId": "t1", "timestamp": at(1)},
        {"type": "track", "anonymousId": "tablet", "event": "Viewed", "messageId": "t2",
         "timestamp": at(2)},
        {"type": "identify", "anonymousId": "tablet", "userId": "alice", "messageId": "t3",
         "timestamp": at(3)},
        {"type": "track", "anonymousId": "tablet", "userId": "alice", "event": "Cart",
         "messageId": "t4", "timestamp": at(4)},
        {"type": "page", "anonymousId": "laptop", "messageId": "l1", "timestamp": at(5)},
        {"type": "identify", "anonymousId": "laptop", "userId": "bob", "messageId": "l2",
         "timestamp": at(6)},
        {"type": "identify", "anonymousId": "tablet", "userId": "bob", "messageId": "t5",
         "timestamp": at(40)},
        {"type": "track", "anonymousId": "tablet", "userId": "bob", "event": "Cart",
         "messageId": "t6", "timestamp": at(41)},
    )  # fmt: skip
    with RunningProcessor(pipeline_settings):
        processed()

    alice = profile_of(pipeline_settings, "user_id", "alice")
    bob = profile_of(pipeline_settings, "user_id", "bob")
    assert alice is not None
    assert bob is not None
    assert alice != bob
    assert profile_of(pipeline_settings, "anonymous_id", "tablet") == alice
    assert timeline(pipeline_settings, alice) == ["t1", "t2", "t3", "t4"]
    assert timeline(pipeline_settings, bob) == ["l1", "l2", "t5", "t6"]
