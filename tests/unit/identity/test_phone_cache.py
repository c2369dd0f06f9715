"""Phones are parsed once per number, not once per notation, with exactly the results of parsing
each notation: the cache key (digits, leading ``+``, leading ``00``, region) is all the parse
depends on for the notations it is used for."""

from __future__ import annotations

from typing import Any

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdp.identity import normalize
from cdp.identity.normalize import _e164, normalize_phone

NUMBERS = [
    "4155552671", "14155552671", "442079460958", "02079460958", "4915123456789",
    "015123456789", "61412345678", "0412345678", "911", "112", "5555555555", "0000000",
    "1234567890123456", "123",
]  # fmt: skip
REGIONS = st.sampled_from(["US", "GB", "DE", "AU", "FR"])


@st.composite
def notations(draw: st.DrawFn) -> str:
    """A number from `NUMBERS` (or any digits), maybe after ``+`` or ``00``, with separators."""
    digits = draw(st.one_of(st.sampled_from(NUMBERS), st.text("0123456789", max_size=18)))
    digits = draw(st.sampled_from(["", "00", "0", "1"])) + digits
    out = draw(st.sampled_from(["", "+", "(", "+(", " "]))
    for ch in digits:
        out += draw(st.sampled_from(["", "", "", " ", "-", ".", "(", ")"])) + ch
    return out + draw(st.sampled_from(["", ")", " ", "-", "."]))


@settings(max_examples=1500)
@given(st.lists(notations(), min_size=1, max_size=8), REGIONS)
def test_cached_notations_read_as_parsed_ones(texts: list[str], region: str) -> None:
    for text in texts:
        digits = "".join(c for c in text if c.isdigit())
        for variant in (text, digits, f"({digits[:3]}) {digits[3:]}", f"{digits}."):
            stripped = variant.strip()
            expected = _e164(stripped, region) if stripped else None
            if stripped and normalize.is_junk(stripped):
                expected = None
            assert normalize_phone(variant, region) == expected, (variant, region)


def test_a_notation_is_parsed_once(monkeypatch: Any) -> None:
    """Counted at phonenumbers' parser: a module attribute, looked up at each call even from
    the compiled module (`cdp.native`), where a patched function of the module itself is not."""
    monkeypatch.setattr(normalize, "_phones", {})
    calls: list[str] = []
    real = phonenumbers.parse

    def counting(text: str, region: str) -> phonenumbers.PhoneNumber:
        calls.append(text)
        return real(text, region)

    monkeypatch.setattr(phonenumbers, "parse", counting)
    found = {normalize_phone(t, "US") for t in ("(415) 555-2671", "415.555.2671", "4155552671")}
    assert found == {"+14155552671"}
    assert calls == ["(415) 555-2671"]


@pytest.mark.parametrize("text", ["tel:+1-415-555-2671", "+1 415 555 2671 ext. 12", "4" * 70])
def test_other_text_is_parsed_every_time(text: str) -> None:
    assert normalize._phone_key(text, "US") is None
    assert normalize_phone(text, "US") == _e164(text, "US")
