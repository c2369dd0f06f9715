"""Subjects: parsed, normalised as the processor stores them, and hashed under a key."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdp.identity import Identifier, IdentityRules, extract_identifiers
from cdp.privacy import parse_subject, subject_hash
from cdp.privacy.errors import InvalidSubject
from cdp.privacy.hashing import Hasher

RULES = IdentityRules()
KEY = b"unit-test-key"


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("email: Jane.Doe@Example.COM ", Identifier("email", "jane.doe@example.com")),
        ("phone:+1 (415) 555-2671", Identifier("phone", "+14155552671")),
        ("phone:415.555.2671", Identifier("phone", "+14155552671")),
        ("user_id: auth0:42 ", Identifier("user_id", "auth0:42")),
        ("anonymous_id:AbC-1", Identifier("anonymous_id", "AbC-1")),
        ("profile_id:007", Identifier("profile_id", "7")),
    ],
)
def test_subjects_normalise_like_the_processor(reference: str, expected: Identifier) -> None:
    assert parse_subject(reference, RULES) == expected


@pytest.mark.parametrize(
    "reference",
    [
        "jane@example.com",
        ":x",
        "email:not-an-email",
        "phone:12",
        "user_id:null",
        "user_id:   ",
        "profile_id:-1",
        "profile_id:0",
        f"profile_id:{2**63}",
        "Bad Type:x",
        "email';drop table profiles:x",
    ],
)
def test_invalid_subjects_are_refused(reference: str) -> None:
    with pytest.raises(InvalidSubject):
        parse_subject(reference, RULES)


def test_a_subject_hashes_as_the_processor_sees_the_same_person() -> None:
    typed = parse_subject("email:  JANE@example.com", RULES)
    [seen] = [
        i
        for i in extract_identifiers(
            {"type": "identify", "traits": {"email": "Jane@Example.com "}}, RULES
        )
        if i.type == "email"
    ]
    assert subject_hash(KEY, typed) == subject_hash(KEY, seen)


def test_the_hash_is_hmac_sha256_of_type_and_value_under_the_key() -> None:
    identifier = Identifier("email", "a@b.co")
    expected = hmac.new(KEY, b"email\x00a@b.co", hashlib.sha256).hexdigest()
    assert subject_hash(KEY, identifier) == expected
    assert subject_hash(b"another-key", identifier) != expected
    assert subject_hash(KEY, Identifier("user_id", "a@b.co")) != expected, "the type counts"
    assert "a@b.co" not in expected


@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_distinct_identifiers_never_share_a_hash(left: str, right: str) -> None:
    a, b = Identifier("user_id", left), Identifier("user_id", right)
    assert (subject_hash(KEY, a) == subject_hash(KEY, b)) == (left == right)


def test_the_hasher_caches_and_agrees() -> None:
    hasher = Hasher(KEY)
    identifier = Identifier("phone", "+14155552671")
    assert hasher(identifier) == hasher(identifier) == subject_hash(KEY, identifier)


@given(
    key=st.binary(min_size=1, max_size=200),
    id_type=st.sampled_from(["email", "phone", "user_id", "anonymous_id", "loyalty_card"]),
    value=st.text(max_size=80),
)
def test_the_hasher_s_precomputed_hmac_is_hmac_sha256(key: bytes, id_type: str, value: str) -> None:
    """Keys shorter and longer than SHA-256's block (64 bytes, which HMAC hashes first)."""
    identifier = Identifier(id_type, value)
    message = f"{id_type}\x00{value}".encode("utf-8", "surrogatepass")
    expected = hmac.new(key, message, hashlib.sha256).hexdigest()
    assert Hasher(key)(identifier) == subject_hash(key, identifier) == expected
