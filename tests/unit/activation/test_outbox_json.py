"""Emitted traits are read exactly as psycopg's json loader (the standard library) reads them."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdp.activation.membership import _json_object

TRICKY = [
    '{"a": 123456789012345678901234567890}',
    '{"a": 1e400, "b": -1e400}',
    '{"a": 9223372036854775808}',
    '{"a": 0.1000000000000000055511151231257827}',
    '{"a": "1234567890123456789", "b": [1, {"c": null}]}',
    '{"é": "ü", "n": -0.0015, "t": true}',
    "{}",
]


@pytest.mark.parametrize("text", TRICKY)
def test_tricky_numbers_and_text_read_as_the_standard_library_reads_them(text: str) -> None:
    assert _json_object(text) == json.loads(text)
    assert repr(_json_object(text)) == repr(json.loads(text))


def test_no_object_is_an_empty_one() -> None:
    assert _json_object(None) == {}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


@given(st.dictionaries(st.text(), json_values, max_size=4))
def test_any_object_reads_as_the_standard_library_reads_it(value: dict[str, object]) -> None:
    text = json.dumps(value)
    assert repr(_json_object(text)) == repr(json.loads(text))
