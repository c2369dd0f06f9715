"""Reading PII at rest: documents opened leniently, subjects stored and suppressed by match value."""

from __future__ import annotations

import os
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from cdp.identity import Identifier
from cdp.privacy.atrest import SEALED_PREFIX, PiiCodec
from cdp.privacy.crypto import KeyRing
from cdp.privacy.hashing import subject_hash
from cdp.privacy.keystate import pii_codec
from cdp.privacy.observability import UNOPENED_VALUES
from cdp.privacy.opening import open_document, open_json
from cdp.privacy.service import PrivacyService
from cdp.privacy.subject import Person, stored_subject
from cdp.settings import Privacy, Settings

HASH_KEY = b"unit-hash-key"
PII = ["email", "phone", "name"]


def codec(keys: dict[str, bytes] | None = None, active: str = "k1") -> PiiCodec:
    return PiiCodec(KeyRing(keys or {"k1": os.urandom(32)}, active), HASH_KEY, PII)


def unopened(reason: str) -> float:
    return float(UNOPENED_VALUES.labels(reason)._value.get())


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)


@given(st.dictionaries(st.sampled_from(["email", "Name", "plan", "x"]), json_values))
def test_a_sealed_document_opens_to_itself(document: dict[str, Any]) -> None:
    pii = codec()
    sealed = pii.seal_document({"traits": document, "list": [document]})
    assert open_document(pii, sealed) == {"traits": document, "list": [document]}
    text = orjson.dumps(sealed).decode()
    assert orjson.loads(open_json(pii, text)) == {"traits": document, "list": [document]}


def test_a_look_alike_or_a_value_under_a_retired_key_is_kept_and_counted() -> None:
    old = codec({"old": os.urandom(32)}, "old")
    retired = old.seal_value("jane@example.com")
    pii = codec()
    look_alike = f"{SEALED_PREFIX}k1:bm90LW91cnM"
    before = unopened("not_ours"), unopened("unknown_key")

    opened = open_document(
        pii, {"a": look_alike, "b": [retired], "c": pii.seal_value({"x": 1}), "d": "plain"}
    )

    assert opened == {"a": look_alike, "b": [retired], "c": {"x": 1}, "d": "plain"}
    assert unopened("not_ours") - before[0] == 1
    assert unopened("unknown_key") - before[1] == 1


def test_clear_mode_opens_nothing_and_keeps_look_alikes() -> None:
    clear = PiiCodec(None, HASH_KEY, PII)
    document = {"email": f"{SEALED_PREFIX}dev:abc", "n": 1}
    assert open_document(clear, document) == document


def test_text_without_a_sealed_value_is_returned_as_it_is() -> None:
    text = '{"email": "jane@example.com", "n": 1}'
    assert open_json(codec(), text) is text


def test_a_subject_is_stored_under_its_match_value_which_is_its_suppression_hash() -> None:
    pii = codec()
    subject = Identifier("email", "jane@example.com")
    assert stored_subject(subject, pii) == Identifier("email", subject_hash(HASH_KEY, subject))
    assert stored_subject(Identifier("profile_id", "7"), pii) == Identifier("profile_id", "7")
    clear = PiiCodec(None, HASH_KEY, PII)
    assert stored_subject(subject, clear) == subject


@pytest.mark.parametrize("encrypted", [True, False])
def test_suppression_hashes_are_match_values_and_clear_rows_are_hashed(encrypted: bool) -> None:
    settings = Settings(privacy=Privacy(hash_key=SecretStr("h" * 32), encrypt_pii=encrypted))
    service = PrivacyService(settings)
    pii = pii_codec(settings)
    key = settings.privacy.hash_key.get_secret_value().encode()
    plain = [Identifier("email", "jane@example.com"), Identifier("user_id", "u1")]
    stored = tuple(pii.match(i) for i in plain)
    person = Person(1, (1,), stored, frozenset() if encrypted else frozenset(stored))

    hashes = service._hashes(Identifier("email", "jane@example.com"), person)
    by_profile = service._hashes(Identifier("profile_id", "1"), person)

    expected = {subject_hash(key, i) for i in plain}
    assert hashes == expected
    assert by_profile == expected, "a profile id is not hashed: events never carry one"
