"""PII at rest through the real processor: the tables hold hashes and ciphertext, never the
clear values, while identity resolution, traits and published changes work on clear values."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import psutil
import psycopg
import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr

from cdp.activation.operations import apply_definitions
from cdp.activation.relay import OutboxRelay
from cdp.activation.segments import parse_segment
from cdp.db import create_engine
from cdp.identity import Identifier
from cdp.privacy.atrest import is_sealed
from cdp.privacy.errors import PiiStateMismatch
from cdp.privacy.hashing import subject_hash
from cdp.privacy.keystate import pii_codec
from cdp.privacy.suppression import add_suppressions
from cdp.profiles.computed import apply_traits, parse_traits
from cdp.profiles.computed.pii import check_pii_traits
from cdp.profiles.service import check_pii_state_or_exit
from cdp.settings import Settings
from tests.integration.profiles.conftest import EventSender, RunningProcessor, query
from tests.integration.profiles.test_identity_scenarios import at, profile_of, traits
from tests.kafka_helpers import read_all

pytestmark = pytest.mark.integration

#: Every clear value the workload sends that must not be stored anywhere.
CLEAR = (
    "jane.doe@example.com",
    "Jane.Doe@Example.com",
    "+14155550123",
    "4155550123",
    "user-jane-42",
    "anon-device-7f3a",
    "anon-tablet-91c2",
    "Jane Q Doe",
    "Margarethe",
    "Doe-Smith",
    "221B Baker Street",
    "billing@acme-corp.example",
)
#: Tables whose whole row text is scanned.
TABLES = ("identifiers", "profiles", "events", "groups", "merges", "outbox")


def send_realistic_story(sender: EventSender) -> None:
    sender.send(
        {
            "type": "page",
            "anonymousId": "anon-device-7f3a",
            "name": "Pricing",
            "properties": {"url": "https://example.com/pricing"},
            "context": {"traits": {"email": "Jane.Doe@Example.com"}},
            "messageId": "r1",
            "timestamp": at(1),
        },
        {
            "type": "identify",
            "anonymousId": "anon-device-7f3a",
            "userId": "user-jane-42",
            "traits": {
                "email": "Jane.Doe@Example.com",
                "phone": "(415) 555-0123",
                "name": "Jane Q Doe",
                "firstName": "Margarethe",
                "last_name": "Doe-Smith",
                "address": {"street": "221B Baker Street", "city": "London"},
                "plan": "pro",
            },
            "messageId": "r2",
            "timestamp": at(2),
        },
        {
            "type": "track",
            "userId": "user-jane-42",
            "event": "Order Completed",
            "properties": {"revenue": 42, "billing": {"email": "billing@acme-corp.example"}},
            "messageId": "r3",
            "timestamp": at(3),
        },
        {
            "type": "group",
            "userId": "user-jane-42",
            "groupId": "acme",
            "traits": {"name": "Acme", "email": "billing@acme-corp.example"},
            "messageId": "r4",
            "timestamp": at(4),
        },
        {
            "type": "alias",
            "previousId": "anon-tablet-91c2",
            "userId": "user-jane-42",
            "messageId": "r5",
            "timestamp": at(5),
        },
        {
            "type": "identify",
            "userId": "user-jane-42",
            "traits": {"plan": "enterprise", "phone": "+1 415 555 0123"},
            "messageId": "r6",
            "timestamp": at(6),
        },
    )


def stored_text(settings: Settings) -> str:
    """Every row of the tables PII could land in, as text (outbox values decoded as bytes)."""
    parts = []
    with psycopg.connect(settings.database_dsn()) as conn:
        for table in TABLES:
            parts += [r[0] for r in conn.execute(f"SELECT t::text FROM {table} t").fetchall()]
        parts += [
            bytes(r[0]).decode("latin-1")
            for r in conn.execute("SELECT value FROM outbox WHERE value IS NOT NULL").fetchall()
        ]
    return "\n".join(parts)


def test_no_clear_pii_is_stored_and_identity_still_resolves(
    pipeline_settings: Settings,
    sender: EventSender,
    processor: RunningProcessor,
    processed: Callable[[], None],
) -> None:
    send_realistic_story(sender)
    processed()

    text = stored_text(pipeline_settings)
    assert query(pipeline_settings, "SELECT count(*) FROM outbox")[0][0] > 0
    for clear in CLEAR:
        assert clear.lower() not in text.lower(), clear

    jane = profile_of(pipeline_settings, "user_id", "user-jane-42")
    assert jane is not None
    for id_type, value in (
        ("anonymous_id", "anon-device-7f3a"),
        ("anonymous_id", "anon-tablet-91c2"),
        ("email", "jane.doe@example.com"),
        ("phone", "+14155550123"),
    ):
        assert profile_of(pipeline_settings, id_type, value) == jane, id_type
    codec = pii_codec(pipeline_settings)
    rows = query(pipeline_settings, "SELECT id_type, id_value, value_enc, key_id FROM identifiers")
    assert len(rows) == 5
    opened = {(t, codec.open_identifier(t, v, bytes(e), k)) for t, v, e, k in rows}
    assert ("email", "jane.doe@example.com") in opened
    assert {k for *_, k in rows} == {"dev"}

    assert traits(pipeline_settings, jane) == {
        "email": "Jane.Doe@Example.com",
        "phone": "+1 415 555 0123",
        "name": "Jane Q Doe",
        "firstName": "Margarethe",
        "last_name": "Doe-Smith",
        "address": {"street": "221B Baker Street", "city": "London"},
        "plan": "enterprise",
    }
    [(stored,)] = query(pipeline_settings, "SELECT traits FROM profiles WHERE id = %s", jane)
    assert stored["plan"] == "enterprise"
    assert all(is_sealed(stored[k]) for k in ("email", "phone", "firstName", "address"))
    [(events,)] = query(
        pipeline_settings, "SELECT count(*) FROM events WHERE profile_id = %s", jane
    )
    assert events == 6


def test_the_timeline_is_sealed_in_the_processors_sealing_process(
    pipeline_settings: Settings,
    sender: EventSender,
    processor: RunningProcessor,
    processed: Callable[[], None],
) -> None:
    assert pipeline_settings.processor_seal_process
    before = REGISTRY.get_sample_value("cdp_processor_seal_fallbacks_total") or 0.0
    send_realistic_story(sender)
    processed()

    sealing = [
        child
        for child in psutil.Process().children()
        if "multiprocessing.spawn" in " ".join(child.cmdline())
    ]
    assert sealing, "the processor runs a sealing process"
    assert (REGISTRY.get_sample_value("cdp_processor_seal_fallbacks_total") or 0.0) == before
    rows = query(pipeline_settings, "SELECT type, properties, context FROM events")
    assert len(rows) == 6
    codec = pii_codec(pipeline_settings)
    identify = [codec.open_document(p) for t, p, _ in rows if t == "identify"]
    assert {"plan": "enterprise", "phone": "+1 415 555 0123"} in identify
    text = " ".join(str(r) for r in rows).lower()
    for clear in CLEAR:
        assert clear.lower() not in text, clear


def test_an_unchanged_pii_trait_keeps_its_ciphertext(
    pipeline_settings: Settings,
    sender: EventSender,
    processor: RunningProcessor,
    processed: Callable[[], None],
) -> None:
    identify = {"type": "identify", "userId": "u1", "traits": {"email": "a@example.com"}}
    sender.send({**identify, "messageId": "k1", "timestamp": at(1)})
    processed()
    [(before,)] = query(pipeline_settings, "SELECT traits->>'email' FROM profiles")
    sender.send(
        {"type": "identify", "userId": "u1", "traits": {"plan": "x"}, "messageId": "k2"},
        {**identify, "messageId": "k3", "timestamp": at(3)},
    )
    processed()
    [(after,)] = query(pipeline_settings, "SELECT traits->>'email' FROM profiles")
    assert after == before
    assert is_sealed(after)
    sender.send({**identify, "traits": {"email": "b@example.com"}, "messageId": "k4"})
    processed()
    [(changed,)] = query(pipeline_settings, "SELECT traits->>'email' FROM profiles")
    assert changed != before
    assert pii_codec(pipeline_settings).open_value(changed) == "b@example.com"


def test_published_changes_carry_clear_values(
    pipeline_settings: Settings,
    sender: EventSender,
    processor: RunningProcessor,
    processed: Callable[[], None],
) -> None:
    send_realistic_story(sender)
    processed()

    OutboxRelay(pipeline_settings).relay_once()

    changes = [
        c.value for c in read_all(pipeline_settings, pipeline_settings.topics.profile_changes)
    ]
    last = changes[-1]
    assert "email:jane.doe@example.com" in last["identifiers"]
    assert "user_id:user-jane-42" in last["identifiers"]
    assert '"Jane.Doe@Example.com"' in last["traits"]
    assert "cdp:enc:" not in "".join(c["traits"] for c in changes)


def test_a_database_written_encrypted_refuses_a_clear_processor(
    pipeline_settings: Settings,
    sender: EventSender,
    processor: RunningProcessor,
    processed: Callable[[], None],
) -> None:
    check_pii_state_or_exit(pipeline_settings)  # records "encrypted" on first use
    clear = pipeline_settings.model_copy(
        update={"privacy": pipeline_settings.privacy.model_copy(update={"encrypt_pii": False})}
    )
    with pytest.raises(PiiStateMismatch, match="holds PII encrypted"):
        check_pii_state_or_exit(clear)
    other_key = pipeline_settings.model_copy(
        update={
            "privacy": pipeline_settings.privacy.model_copy(
                update={"hash_key": SecretStr("another-hash-key-of-enough-length")}
            )
        }
    )
    with pytest.raises(PiiStateMismatch, match="HASH_KEY differs"):
        check_pii_state_or_exit(other_key)


def test_the_processor_command_exits_non_zero_on_a_mismatch(pipeline_settings: Settings) -> None:
    from cdp.bench.processor import processor_env

    check_pii_state_or_exit(pipeline_settings)
    env = processor_env(pipeline_settings)
    env["CDP_PRIVACY__ENCRYPT_PII"] = "false"
    done = subprocess.run(
        [sys.executable, "-m", "cdp", "processor"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "the database holds PII encrypted" in done.stderr


def test_suppression_matches_the_stored_match_values(
    pipeline_settings: Settings,
    sender: EventSender,
    processor: RunningProcessor,
    processed: Callable[[], None],
) -> None:
    key = pipeline_settings.privacy.hash_key.get_secret_value().encode()
    suppressed = subject_hash(key, Identifier("email", "gone@example.com"))
    assert (
        suppressed
        == pii_codec(pipeline_settings).match(Identifier("email", "gone@example.com")).value
    )
    with psycopg.connect(pipeline_settings.database_dsn()) as conn:
        add_suppressions(conn, {suppressed}, request_id=1)
    sender.send(
        {"type": "identify", "userId": "g", "traits": {"email": " Gone@Example.com "}},
        {"type": "track", "userId": "kept", "event": "Seen"},
    )
    processed()

    assert profile_of(pipeline_settings, "user_id", "kept") is not None
    assert profile_of(pipeline_settings, "user_id", "g") is None
    assert query(pipeline_settings, "SELECT id_hash, events FROM privacy_drops") == [
        (suppressed, 1)
    ]


def test_a_product_name_is_stored_in_clear_and_a_segment_compares_it(
    pipeline_settings: Settings, sender: EventSender, processed: Callable[[], None]
) -> None:
    """``properties.name`` of an e-commerce event is a product's: stored as it came, so a
    segment and a computed trait can compare it, while the person's name and email (identify
    traits, ``context.traits``) stay sealed."""
    settings = pipeline_settings
    slug = f"blue-mug-{settings.processor_group}"
    viewed_mug = {"event": {"name": "Product Viewed", "where": [
        {"property": "name", "op": "eq", "value": "Blue Mug"}
    ]}}  # fmt: skip
    top_product = {"name": "top_product", "kind": "most_frequent", "property": "name",
                   "event": {"name": "Product Viewed"}}  # fmt: skip
    engine = create_engine(settings, pool_size=1)
    try:
        apply_definitions(
            settings, engine, [parse_segment({"slug": slug, "name": "M", "condition": viewed_mug})]
        )
        traits = parse_traits([top_product])
        check_pii_traits(traits, settings.pii_names())
        with engine.begin() as conn:
            apply_traits(conn, traits)
    finally:
        engine.dispose()

    def viewed(user: str, product: str, n: int) -> dict[str, object]:
        return {
            "type": "track",
            "userId": user,
            "event": "Product Viewed",
            "properties": {"product_id": f"p{n}", "name": product, "price": 12},
            "context": {"traits": {"name": "Jane Q Doe", "email": "jane.doe@example.com"}},
            "messageId": f"pv{n}",
            "timestamp": at(n),
        }

    with RunningProcessor(settings):
        sender.send(
            {
                "type": "identify",
                "userId": "user-jane-42",
                "traits": {"email": "jane.doe@example.com", "name": "Jane Q Doe"},
                "messageId": "pv0",
                "timestamp": at(0),
            },
            viewed("user-jane-42", "Blue Mug", 1),
            viewed("user-jane-42", "Blue Mug", 2),
            viewed("user-jane-42", "Red Kettle", 3),
            viewed("user-omar-7", "Red Kettle", 4),
        )
        processed()

    jane = profile_of(settings, "user_id", "user-jane-42")
    omar = profile_of(settings, "user_id", "user-omar-7")
    assert jane is not None
    assert omar is not None
    stored = query(
        settings,
        "SELECT properties->>'name', context->'traits'->>'name' FROM events "
        "WHERE type = 'track' ORDER BY message_id",
    )
    assert [name for name, _ in stored] == ["Blue Mug", "Blue Mug", "Red Kettle", "Red Kettle"]
    assert all(is_sealed(person) for _, person in stored)
    [(identify_name,)] = query(
        settings, "SELECT properties->>'name' FROM events WHERE type = 'identify'"
    )
    assert is_sealed(identify_name)
    [(profile_name,)] = query(settings, "SELECT traits->>'name' FROM profiles WHERE id = %s", jane)
    assert is_sealed(profile_name)
    text = stored_text(settings)
    for clear in ("jane.doe@example.com", "Jane Q Doe", "user-jane-42"):
        assert clear.lower() not in text.lower(), clear

    members = query(settings, "SELECT profile_id FROM segment_memberships WHERE slug = %s", slug)
    assert [m for (m,) in members] == [jane]
    assert query(
        settings,
        "SELECT profile_id, value FROM computed_trait_values WHERE name = 'top_product' "
        "ORDER BY profile_id",
    ) == sorted([(jane, "Blue Mug"), (omar, "Red Kettle")])
