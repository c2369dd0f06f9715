from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdp.identity import is_junk, normalize_email, normalize_phone
from cdp.identity.normalize import MAX_VALUE_BYTES, normalize_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Jane.Doe@Example.COM", "jane.doe@example.com"),
        ("  jane@example.com\n", "jane@example.com"),
        ("j+tag@mail.example.co.uk", "j+tag@mail.example.co.uk"),
    ],
)
def test_emails_are_trimmed_and_lower_cased(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "jane",
        "jane@",
        "@example.com",
        "jane@example",
        "jane@@example.com",
        "ja@ne@example.com",
        "jane doe@example.com",
        "jane@exa mple.com",
        "jane@.com",
        "jane@example.",
        "jane@example..com",
        "null",
        None,
        42,
        ["jane@example.com"],
    ],
)
def test_things_that_do_not_look_like_an_email_are_refused(raw: object) -> None:
    assert normalize_email(raw) is None


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+1 (415) 555-2671", "US", "+14155552671"),
        ("415.555.2671", "US", "+14155552671"),
        ("(415) 555-2671", "US", "+14155552671"),
        ("4155552671", "US", "+14155552671"),
        (4155552671, "US", "+14155552671"),
        (4155552671.0, "US", "+14155552671"),
        ("0044 20 7946 0958", "US", "+442079460958"),
        ("0044 20 7946 0958", "GB", "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("+44 20 7946 0958", "DE", "+442079460958"),
        ("011 44 20 7946 0958", "US", "+442079460958"),
        ("+1 415 555 2671 ext. 12", "US", "+14155552671"),
        ("  +14155552671  ", "US", "+14155552671"),
    ],
)
def test_phones_become_e164(raw: object, region: str, expected: str) -> None:
    assert normalize_phone(raw, region) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "abc",
        "12",
        "+1 415 555 267",  # one digit short
        "555-1234",  # possible length, no area code: not valid
        "+999 1234",
        "0000000000",
        "-1",
        "null",
        None,
        True,
        4155552671.5,
        {"number": "4155552671"},
    ],
)
def test_invalid_phones_are_refused(raw: object) -> None:
    assert normalize_phone(raw, "US") is None


def test_a_number_without_country_code_depends_on_the_region() -> None:
    assert normalize_phone("020 7946 0958", "US") is None
    assert normalize_phone("030 901820", "DE") == "+4930901820"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "0",
        "000",
        "-",
        "--",
        "0000-0000",
        " 0 ",
        "-1",
        "null",
        "NULL",
        " Null ",
        "none",
        "nil",
        "undefined",
        "Anonymous",
        "unknown",
        "N/A",
        "[object Object]",
        "NaN",
        "true",
        "FALSE",
    ],
)
def test_junk_values(value: str) -> None:
    assert is_junk(value)


@pytest.mark.parametrize(
    "value", ["1", "-2", "00001", "0-1", "u_123", "nullable", "anonymous-7f3a", "0x0", "a"]
)
def test_real_values_are_not_junk(value: str) -> None:
    assert not is_junk(value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" AbC-123 ", "AbC-123"),
        (12345, "12345"),
        (1.5, "1.5"),
        ("null", None),
        ("  ", None),
        (0, None),
        (-1, None),
        (True, None),
        (None, None),
        ({"id": "x"}, None),
        (["x"], None),
    ],
)
def test_text_identifiers_are_trimmed_and_keep_their_case(
    raw: object, expected: str | None
) -> None:
    assert normalize_text(raw) == expected


def test_overlong_values_are_not_identifiers() -> None:
    assert normalize_text("x" * MAX_VALUE_BYTES) == "x" * MAX_VALUE_BYTES
    assert normalize_text("x" * (MAX_VALUE_BYTES + 1)) is None
    assert normalize_text("é" * (MAX_VALUE_BYTES // 2 + 1)) is None  # counted in UTF-8 bytes
    assert normalize_email("a" * MAX_VALUE_BYTES + "@example.com") is None


@given(st.text())
def test_normalised_email_is_stable(raw: str) -> None:
    once = normalize_email(raw)
    if once is not None:
        assert normalize_email(once) == once
        assert once == once.strip().lower()


@given(st.text(alphabet="0123456789 +-().", max_size=20))
def test_normalised_phone_is_stable_e164(raw: str) -> None:
    once = normalize_phone(raw, "US")
    if once is not None:
        assert once.startswith("+")
        assert once[1:].isdigit()
        assert normalize_phone(once, "GB") == once
