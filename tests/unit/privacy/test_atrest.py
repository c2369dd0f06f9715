"""The PII-at-rest foundation: the key ring, the codec's match values and sealed values, and
the settings' codec."""

from __future__ import annotations

import base64
import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdp.identity import Identifier
from cdp.privacy.atrest import SEALED_PREFIX, PiiCodec, is_sealed, sealed_key_id
from cdp.privacy.crypto import NONCE_BYTES, KeyRing
from cdp.privacy.errors import DecryptionFailed, UnknownDataKey
from cdp.privacy.hashing import subject_hash
from cdp.privacy.keystate import pii_codec
from cdp.privacy.names import normal_name
from cdp.settings import Settings

HASH_KEY = b"test-hash-key"
PII = ["email", "phone", "name", "first_name", "last_name", "address"]
KEY_A = os.urandom(32)
KEY_B = os.urandom(32)


def codec(active: str = "a", keys: dict[str, bytes] | None = None) -> PiiCodec:
    ring = KeyRing(keys or {"a": KEY_A, "b": KEY_B}, active)
    return PiiCodec(ring, HASH_KEY, PII)


def clear_codec() -> PiiCodec:
    return PiiCodec(None, HASH_KEY, PII)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


# the key ring


def test_ring_round_trip_and_fresh_nonces() -> None:
    ring = KeyRing({"a": KEY_A}, "a")
    one, two = ring.encrypt(b"jane@example.com", b"aad"), ring.encrypt(b"jane@example.com", b"aad")
    assert one != two
    assert len(one) == NONCE_BYTES + len(b"jane@example.com") + 16
    assert ring.decrypt("a", one, b"aad") == b"jane@example.com"


def test_ring_nonces_are_unique_across_threads_the_wrap_and_forks() -> None:
    ring = KeyRing({"a": KEY_A}, "a")
    ring._counter = itertools.count(2 ** (8 * NONCE_BYTES) - 500)  # wraps to zero midway

    def draw(_: int) -> list[bytes]:
        return [ring.encrypt(b"x", b"")[:NONCE_BYTES] for _ in range(250)]

    with ThreadPoolExecutor(4) as pool:
        drawn = [n for batch in pool.map(draw, range(8)) for n in batch]
    assert len(set(drawn)) == len(drawn) == 2000
    assert bytes(NONCE_BYTES) in drawn
    other = KeyRing({"a": KEY_A}, "a")  # another process's ring starts elsewhere
    assert other.encrypt(b"x", b"")[:NONCE_BYTES] not in drawn
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child's next nonce must not be the parent's next one
        os.write(write, ring.encrypt(b"x", b"")[:NONCE_BYTES])
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, NONCE_BYTES)
    os.close(read)
    os.close(write)
    assert child != ring.encrypt(b"x", b"")[:NONCE_BYTES]


def test_ring_detects_tampering_wrong_aad_and_wrong_key() -> None:
    ring = KeyRing({"a": KEY_A, "b": KEY_B}, "a")
    blob = ring.encrypt(b"secret", b"aad")
    flipped = bytes([blob[0]]) + blob[1:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(DecryptionFailed):
        ring.decrypt("a", flipped, b"aad")
    with pytest.raises(DecryptionFailed):
        ring.decrypt("a", blob, b"other")
    with pytest.raises(DecryptionFailed):
        ring.decrypt("b", blob, b"aad")


def test_ring_unknown_key_ids() -> None:
    with pytest.raises(UnknownDataKey):
        KeyRing({"a": KEY_A}, "b")
    ring = KeyRing({"a": KEY_A}, "a")
    with pytest.raises(UnknownDataKey):
        ring.decrypt("gone", ring.encrypt(b"x", b""), b"")


# identifiers


def test_match_is_the_subject_hash_and_identity_in_clear_mode() -> None:
    plain = Identifier("email", "jane@example.com")
    match = codec().match(plain)
    assert match == Identifier("email", subject_hash(HASH_KEY, plain))
    assert match.value != plain.value
    assert len(match.value) == 64
    assert clear_codec().match(plain) is plain
    assert codec().match(Identifier("phone", "jane@example.com")).value != match.value


@given(st.text(min_size=1, max_size=40))
def test_identifier_round_trip(value: str) -> None:
    c = codec()
    plain = Identifier("user_id", value)
    match = c.match(plain)
    sealed = c.seal_identifier(plain, match.value)
    assert sealed is not None
    blob, key_id = sealed
    assert key_id == "a"
    assert c.open_identifier("user_id", match.value, blob, key_id) == value


def test_identifier_rows_cannot_be_swapped() -> None:
    c = codec()
    jane, john = Identifier("email", "jane@example.com"), Identifier("email", "john@example.com")
    jane_blob, key_id = c.seal_identifier(jane, c.match(jane).value) or (b"", "")
    with pytest.raises(DecryptionFailed):  # jane's ciphertext moved to john's row
        c.open_identifier("email", c.match(john).value, jane_blob, key_id)
    with pytest.raises(DecryptionFailed):  # or to another type
        c.open_identifier("phone", c.match(jane).value, jane_blob, key_id)


def test_identifier_unknown_key_and_clear_mode() -> None:
    c = codec()
    plain = Identifier("email", "jane@example.com")
    blob, _ = c.seal_identifier(plain, c.match(plain).value) or (b"", "")
    with pytest.raises(UnknownDataKey):
        c.open_identifier("email", c.match(plain).value, blob, "retired")
    assert clear_codec().seal_identifier(plain, plain.value) is None
    assert clear_codec().open_identifier("email", plain.value, None, None) == plain.value


def test_old_key_still_opens_after_the_active_key_changed() -> None:
    old = codec("a")
    sealed = old.seal_value("jane@example.com")
    assert sealed_key_id(sealed) == "a"
    new = codec("b")
    assert new.open_value(sealed) == "jane@example.com"
    assert sealed_key_id(new.seal_value("x")) == "b"
    with pytest.raises(UnknownDataKey):
        codec("b", {"b": KEY_B}).open_value(sealed)


# values and documents


@given(json_values)
def test_value_round_trip(value: Any) -> None:
    c = codec()
    sealed = c.seal_value(value)
    assert is_sealed(sealed)
    assert sealed.startswith(SEALED_PREFIX + "a:")
    assert c.open_value(sealed) == value


def test_sealed_value_tampering_detected() -> None:
    c = codec()
    sealed = c.seal_value("jane@example.com")
    head, _, text = sealed.rpartition(":")
    blob = bytearray(base64.urlsafe_b64decode(text))
    blob[NONCE_BYTES] ^= 1
    with pytest.raises(DecryptionFailed):
        c.open_value(f"{head}:{base64.urlsafe_b64encode(bytes(blob)).decode()}")
    with pytest.raises(DecryptionFailed):
        c.open_value(f"{head}:not base64!!")
    with pytest.raises(DecryptionFailed):
        clear_codec().open_value(sealed)


def test_document_seals_pii_names_at_any_depth_and_spelling() -> None:
    c = codec()
    doc = {
        "Email": "jane@example.com",
        "plan": "pro",
        "company": {"first-name": "Jane", "size": 3, "emails": ["x"]},
        "people": [{"lastName": "Doe"}, {"phone": None}],
        "address": {"city": "Berlin"},
    }
    sealed = c.seal_document(doc)
    text = orjson.dumps(sealed).decode()
    for clear in ("jane@example.com", "Jane", "Doe", "Berlin"):
        assert clear not in text
    assert sealed["plan"] == "pro"
    assert sealed["company"]["size"] == 3
    assert sealed["company"]["emails"] == ["x"]  # "emails" is not a PII name
    assert sealed["people"][1] == {"phone": None}
    assert c.seal_document(sealed) == sealed  # sealed values are not sealed again
    assert c.open_document(sealed) == doc
    assert clear_codec().seal_document(doc) is doc


@given(st.dictionaries(st.sampled_from(["email", "plan", "Phone", "x"]), json_values, max_size=4))
def test_seal_json_round_trip(doc: dict[str, Any]) -> None:
    c = codec()
    text = orjson.dumps(doc).decode()
    sealed = c.seal_json(text)
    assert c.open_document(orjson.loads(sealed)) == doc
    if not c.might_hold_pii(text):
        assert sealed is text


def test_seal_json_leaves_documents_without_pii_alone() -> None:
    c = codec()
    text = '{"plan":"pro","nested":{"emails":1}}'
    assert c.seal_json(text) is text
    assert clear_codec().seal_json('{"email":"a@b.c"}') == '{"email":"a@b.c"}'


key_text = st.text(
    alphabet=st.sampled_from(list("emailphonNAMEfirstl_- xyzE")), min_size=1, max_size=14
)


@given(st.dictionaries(key_text, st.integers(0, 9), min_size=1, max_size=3))
def test_might_hold_pii_agrees_with_normal_name(doc: dict[str, int]) -> None:
    c = codec()
    expected = any(normal_name(k) in {normal_name(n) for n in PII} for k in doc)
    assert c.might_hold_pii(orjson.dumps(doc).decode()) == expected
    assert any(c.is_pii_name(k) for k in doc) == expected


@given(st.sampled_from(PII), st.sampled_from(["", "_", "-", " "]), st.booleans())
def test_might_hold_pii_finds_every_spelling(name: str, sep: str, upper: bool) -> None:
    spelled = name.replace("_", sep)
    spelled = spelled.upper() if upper else spelled
    assert codec().might_hold_pii(orjson.dumps({"x": {spelled: 1}}).decode())


# the settings' codec


def test_pii_codec_of_settings() -> None:
    on = pii_codec(Settings())
    assert on.enabled
    assert on.ring is not None
    assert on.ring.active == "dev"
    off = pii_codec(Settings(privacy={"encrypt_pii": False}))
    assert not off.enabled
    plain = Identifier("email", "jane@example.com")
    assert off.match(plain) == plain
    assert on.open_value(on.seal_value("x")) == "x"


# event property names (a product's name is not PII)

PROPERTY_PII = ["email", "phone", "first_name", "last_name", "address"]


def test_the_settings_codec_seals_properties_by_the_property_names() -> None:
    settings = Settings()
    assert settings.pii_property_names() == PROPERTY_PII
    on = pii_codec(settings)
    props = on.properties
    assert props.ring is on.ring
    assert on.is_pii_name("name")
    assert not props.is_pii_name("name")
    assert props.is_pii_name("E-Mail")
    product = '{"name":"Blue Mug","price":12}'
    assert not props.might_hold_pii(product)
    assert props.seal_json(product) is product
    sealed = orjson.loads(props.seal_json('{"name":"Blue Mug","billing":{"email":"a@b.c"}}'))
    assert sealed["name"] == "Blue Mug"
    assert is_sealed(sealed["billing"]["email"])
    assert on.open_document(sealed) == {"name": "Blue Mug", "billing": {"email": "a@b.c"}}
    assert is_sealed(on.seal_document({"name": "Jane"})["name"])


def test_property_names_are_a_setting_of_their_own() -> None:
    custom = Settings(pii_traits=["email", "name", "ssn"])
    assert custom.pii_property_names() == ["email", "ssn"]
    told = Settings(privacy={"pii_properties": ["name"]})
    assert told.pii_property_names() == ["name"]
    assert pii_codec(told).properties.is_pii_name("Name")
    assert not pii_codec(told).properties.is_pii_name("email")
    assert Settings(privacy={"pii_properties": []}).pii_property_names() == []
    assert (
        pii_codec(Settings(privacy={"pii_properties": []})).properties.seal_json(
            '{"email":"a@b.c"}'
        )
        == '{"email":"a@b.c"}'
    )


def test_a_codec_without_property_names_seals_properties_as_traits() -> None:
    c = codec()
    assert c.properties is c


@given(
    st.dictionaries(st.sampled_from([*PII, "Name", "e_mail", "sku", "names"]), st.integers(0, 9))
)
def test_property_precheck_agrees_with_the_property_names(doc: dict[str, int]) -> None:
    c = PiiCodec(KeyRing({"a": KEY_A}, "a"), HASH_KEY, PII, PROPERTY_PII)
    props = {normal_name(n) for n in PROPERTY_PII}
    expected = any(normal_name(k) in props for k in doc)
    assert c.properties.might_hold_pii(orjson.dumps(doc).decode()) == expected
    assert c.properties.holds_pii(doc) == expected
