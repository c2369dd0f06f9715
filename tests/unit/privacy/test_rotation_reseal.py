"""Moving sealed values to the active key in texts and outbox records, and which columns a
rotation must visit."""

from __future__ import annotations

import os
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects.postgresql import JSONB

from cdp.db.tables import metadata
from cdp.privacy.atrest import PiiCodec, is_sealed, sealed_key_id
from cdp.privacy.crypto import KeyRing
from cdp.privacy.errors import DecryptionFailed, UnknownDataKey
from cdp.privacy.rotation.census import SEALED_COLUMNS
from cdp.privacy.rotation.reseal import reseal_record, reseal_text, sealed_pattern
from cdp.privacy.rotation.steps import KEYED, Work, _event_texts
from cdp.schemas import PROFILE_CHANGE, Codec
from cdp.schemas.catalog import ManifestCatalog

KEYS = {"old": os.urandom(32), "new": os.urandom(32)}
PII = ["email", "phone", "name", "address"]


def codec(active: str, keys: tuple[str, ...] = ("old", "new")) -> PiiCodec:
    return PiiCodec(KeyRing({k: KEYS[k] for k in keys}, active), b"hash", PII)


documents = st.dictionaries(
    st.sampled_from(["email", "phone", "plan", "Address", "n"]),
    st.none()
    | st.integers(-(2**53), 2**53)
    | st.text(max_size=10)
    | st.lists(st.text(max_size=5), max_size=3),
    max_size=5,
)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(documents)
def test_reseal_text_moves_every_old_value_and_keeps_what_it_opens_to(doc: dict[str, Any]) -> None:
    old, new = codec("old"), codec("new")
    stored = orjson.dumps({"p": old.seal_document(doc), "q": new.seal_document(doc)}).decode()
    moved_text, moved = reseal_text(new.ring, stored)  # type: ignore[arg-type]
    sealed = sum(1 for k, v in doc.items() if v is not None and new.is_pii_name(k))
    assert moved == sealed
    assert "cdp:enc:v1:old:" not in moved_text
    only_new = codec("new", ("new",))
    assert only_new.open_document(orjson.loads(moved_text)) == {"p": doc, "q": doc}
    if not moved:
        assert moved_text is stored


def test_values_under_the_active_key_are_left_as_they_are() -> None:
    new = codec("new")
    text = orjson.dumps({"email": new.seal_value("a@b.c")}).decode()
    assert reseal_text(new.ring, text) == (text, 0)  # type: ignore[arg-type]


def test_unknown_keys_and_altered_values_fail() -> None:
    old = codec("old", ("old",))
    value = old.seal_value("a@b.c")
    with pytest.raises(UnknownDataKey):
        reseal_text(KeyRing({"new": KEYS["new"]}, "new"), value)
    altered = value[:-6] + ("AAAA" if not value[-6:-2].startswith("AAAA") else "BBBB") + value[-2:]
    with pytest.raises(DecryptionFailed):
        reseal_text(codec("new").ring, altered)  # type: ignore[arg-type]


def test_like_patterns_escape_wildcards() -> None:
    assert sealed_pattern("k_1") == "%cdp:enc:v1:k\\_1:%"
    assert sealed_pattern("k.1") == "%cdp:enc:v1:k.1:%"


def test_outbox_records_are_rewritten_with_their_schema() -> None:
    old, new = codec("old"), codec("new")
    avro = Codec(ManifestCatalog())
    traits = {"email": "a@b.c", "plan": "pro", "address": {"city": "Oslo"}}
    record = {
        "change_id": "c1", "kind": "updated", "profile_id": 7, "merged_from": [3],
        "reason": None, "message_id": None, "traits": orjson.dumps(old.seal_document(traits)).decode(),
        "changed_traits": ["email"], "identifiers": ["user_id:abc"], "at": 1_800_000_000_000,
    }  # fmt: skip
    data = avro.encode(PROFILE_CHANGE, record)
    moved, count = reseal_record(new.ring, avro, data)  # type: ignore[arg-type]
    assert count == 2
    assert moved[:5] == data[:5], "same schema id"
    decoded = avro.decode(PROFILE_CHANGE, moved)
    stored = orjson.loads(decoded["traits"])
    assert all(sealed_key_id(v) == "new" for v in (stored["email"], stored["address"]))
    assert is_sealed(stored["email"])
    assert codec("new", ("new",)).open_document(stored) == traits
    assert {k: v for k, v in decoded.items() if k not in ("traits", "at")} == {
        k: v for k, v in record.items() if k not in ("traits", "at")
    }
    assert reseal_record(new.ring, avro, moved) == (moved, 0)  # type: ignore[arg-type]


#: JSON and binary columns that hold no sealed value, and why.
NOT_SEALED = {
    ("profiles", "trait_times"): "names and times only",
    ("profiles", "computed"): "built-in counters and consent, not PII",
    ("groups", "trait_times"): "names and times only",
    ("segments", "definition"): "definitions; PII conditions are exists-only",
    ("destinations", "definition"): "configuration",
    ("computed_traits", "definition"): "configuration",
    ("computed_trait_values", "value"): "generated from first_value/last_value/counts",
    ("privacy_requests", "detail"): "counts and reasons",
    ("audit_log", "detail"): "who did what, no values",
    ("data_key_rotations", "progress"): "the rotation's own progress",
    ("outbox", "key"): "profile ids",
    ("identifiers", "value_enc"): "sealed, but visited by its own step (identifiers)",
}


def test_every_json_and_binary_column_is_visited_or_known_to_hold_no_sealed_value() -> None:
    visited = {(t, c) for t, (_, columns) in KEYED.items() for c in columns}
    visited |= {("events", "properties"), ("events", "context"), ("outbox", "value")}
    found = {
        (table.name, column.name)
        for table in metadata.tables.values()
        for column in table.columns
        if isinstance(column.type, JSONB | sa.LargeBinary)
    }
    assert found == visited | set(NOT_SEALED)
    assert {t for t, _ in visited} <= set(SEALED_COLUMNS)


def test_converting_a_timeline_row_seals_as_the_processor_does() -> None:
    """A legacy database kept in clear: track properties by the property names (a product's
    ``name`` stays clear), identify traits and every context by the trait names."""
    ring = KeyRing({"new": KEYS["new"]}, "new")
    work = Work(
        PiiCodec(ring, b"hash", PII, ["email", "phone", "address"]), Codec(ManifestCatalog())
    )
    context = orjson.dumps({"traits": {"name": "Jane"}, "library": {"name": "analytics.js"}})
    product = orjson.dumps({"name": "Blue Mug", "email": "a@b.c"}).decode()
    (_, props, ctx), changed = _event_texts(
        work, True, "track", "Viewed", product, context.decode()
    )
    assert changed == 2
    stored = orjson.loads(props)
    assert stored["name"] == "Blue Mug"
    assert is_sealed(stored["email"])
    assert is_sealed(orjson.loads(ctx)["traits"]["name"])
    assert orjson.loads(ctx)["library"] == {"name": "analytics.js"}
    (_, traits, _), _ = _event_texts(work, True, "identify", None, '{"name":"Jane"}', "{}")
    assert is_sealed(orjson.loads(traits)["name"])
    clear = '{"name":"Blue Mug"}'
    (_, same, _), none = _event_texts(work, True, "page", "Mug", clear, "{}")
    assert same is clear
    assert none == 0
