"""COPY text fields: escaping that Postgres undoes exactly, and timestamps equal to the datetimes
the processor used to send."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from cdp.profiles import copytext

UNESCAPES = {"\\\\": "\\", "\\t": "\t", "\\n": "\n", "\\r": "\r"}


def unescape(field: str) -> str | None:
    """What Postgres reads from one COPY text field."""
    if field == "\\N":
        return None
    out, i = [], 0
    while i < len(field):
        pair = field[i : i + 2]
        if pair in UNESCAPES:
            out.append(UNESCAPES[pair])
            i += 2
        else:
            assert field[i] != "\\", f"stray backslash in {field!r}"
            out.append(field[i])
            i += 1
    return "".join(out)


@given(st.text())
def test_text_reads_back_as_itself(value: str) -> None:
    field = copytext.text(value)
    assert not {"\t", "\n", "\r"} & set(field)
    assert unescape(field) == value


@example(["\t"])
@example(["a", "b\\", "\r"])
@example([None, "\n"])
@given(st.lists(st.one_of(st.none(), st.text(alphabet="ab\\\t\n\r{}\"'N"))))
def test_a_row_reads_back_as_its_values(values: list[str | None]) -> None:
    line = copytext.row(tuple(values))
    fields = line.split("\t") if values else []
    assert [unescape(f) for f in fields] == values


def test_null_and_empty_differ() -> None:
    assert copytext.row((None, "", "\\N")) == "\\N\t\t\\\\N"


def _parsed(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("+00", "+00:00") if text.endswith("+00") else text)


@pytest.mark.parametrize(
    "ms",
    [0, -1, 1, 999, -999, -1001, 1_714_521_786_420, 1_087_778_013_054, 2**32 * 1000 - 1,
     -(2**32) * 1000 + 1, 2**32 * 1000, 186_873_705_408_461, -30_610_224_000_001,
     253_402_300_799_999, -62_135_596_800_000, 9_654_019_102_390, 11_005_781_937_755],
)  # fmt: skip
def test_timestamps_are_the_instant_the_datetime_was(ms: int) -> None:
    assert _parsed(copytext.timestamp(ms)) == datetime.fromtimestamp(ms / 1000, UTC)


def test_timestamps_over_the_exact_range_and_beyond() -> None:
    rng = random.Random(5)
    for _ in range(20_000):
        ms = rng.randrange(-(2**35) * 1000, 2**35 * 1000)
        assert _parsed(copytext.timestamp(ms)) == datetime.fromtimestamp(ms / 1000, UTC)


def test_bytea_is_escaped_hex() -> None:
    assert copytext.bytea(b"\x00\xffA") == "\\\\x00ff41"
    assert unescape(copytext.bytea(b"\x01")) == "\\x01"
