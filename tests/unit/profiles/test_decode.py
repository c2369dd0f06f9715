"""The processor's generated Event reader gives exactly what the codec path gives, events and dead
letters alike, and hands back every record it does not read exactly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from cdp.bench.synthetic import generate
from cdp.ingest.validate import BatchContext, validate_batch
from cdp.profiles.decode import NEEDED, EventDecoder, compile_event_reader
from cdp.schemas import EVENT, Codec, ManifestCatalog
from cdp.settings import Limits


@dataclass
class Message:
    data: bytes | None
    at: int

    def value(self) -> bytes | None:
        return self.data

    def partition(self) -> int:
        return 2

    def offset(self) -> int:
        return self.at

    def topic(self) -> str:
        return "raw"


class CodecOnly:
    """The codec without its catalog in view: the decoder can only use the codec path."""

    def __init__(self, codec: Codec) -> None:
        self._inner = codec

    def decode(self, subject: str, data: bytes) -> dict[str, Any]:
        return self._inner.decode(subject, data)


@pytest.fixture(scope="module")
def codec() -> Codec:
    return Codec(ManifestCatalog())


def envelope(message: dict[str, Any], received_at: int = 1_714_521_600_000) -> dict[str, Any]:
    oks, errs = validate_batch([message], BatchContext("src", received_at, Limits()))
    assert not errs
    return dict(oks[0].envelope)


def both(codec: Codec, values: list[bytes | None]) -> tuple[Any, Any]:
    messages = [Message(v, i) for i, v in enumerate(values)]
    fast = EventDecoder(codec)
    slow = EventDecoder(CodecOnly(codec))  # type: ignore[arg-type]
    return fast.decode_batch(messages), slow.decode_batch(messages)


def test_the_generated_reader_is_used(codec: Codec) -> None:
    assert EventDecoder(codec)._read is not None
    assert EventDecoder(CodecOnly(codec))._read is None  # type: ignore[arg-type]


def test_synthetic_events_decode_as_the_codec_decodes_them(codec: Codec) -> None:
    workload = generate(200, 3000, seed=2)
    values: list[bytes | None] = [
        codec.encode(EVENT, envelope(m, at))
        for m, at in zip(workload.messages, workload.times, strict=True)
    ]
    (fast, fast_errs), (slow, slow_errs) = both(codec, values)
    assert fast_errs == slow_errs == []
    assert fast == slow
    assert len(fast) == 3000


ODD_MESSAGES = [
    {"type": "track", "userId": "ü" * 70, "event": "Ünïcode ☃", "messageId": "x" * 300},
    {"type": "alias", "userId": "u", "previousId": "p", "messageId": "a1"},
    {"type": "group", "anonymousId": "a", "groupId": "g", "traits": {"n": 1}, "messageId": "g1"},
    {"type": "page", "anonymousId": "a", "name": "Home", "messageId": "p1", "sentAt": "2024-05-01T00:00:00Z"},
    {"type": "identify", "userId": "u", "traits": {"email": "a@b.co", "t": "\t\n\\"}, "messageId": "i"},
    {"type": "track", "userId": "u", "event": "Old", "timestamp": "1901-01-01T00:00:00Z", "messageId": "o"},
]  # fmt: skip


@pytest.mark.parametrize("message", ODD_MESSAGES)
def test_odd_but_valid_events_decode_as_the_codec_decodes_them(
    codec: Codec, message: dict[str, Any]
) -> None:
    (fast, _), (slow, _) = both(codec, [codec.encode(EVENT, envelope(message))])
    assert fast == slow
    assert len(fast) == 1


def _record(codec: Codec, **changes: Any) -> bytes:
    record = envelope({"type": "track", "userId": "u", "event": "E", "messageId": "m"})
    record.update(changes)
    return codec.encode(EVENT, record)


def test_records_it_does_not_read_exactly_get_the_codecs_verdict(codec: Codec) -> None:
    good = _record(codec)
    long = _record(codec, extra='{"k": "' + "x" * 300 + '"}')
    union_at = good.index(b"\x02\x02u")  # user_id's union branch, then "u"
    values: list[bytes | None] = [
        good[:-3],
        good[:6],
        long[:-50],
        good[:-1],
        good[:union_at] + b"\x04" + good[union_at + 1 :],
        _record(codec, timestamp=10**16),
        _record(codec, sent_at=-(10**15)),
        _record(codec, properties="[1, 2]"),
        _record(codec, context="{not json"),
        _record(codec, traits=""),
        b"\x00\x00\x00\x00\x63" + good[5:],
        b"\x01" + good[1:],
        b"",
        None,
        good,
    ]
    (fast, fast_errs), (slow, slow_errs) = both(codec, values)
    assert fast == slow
    assert fast_errs == slow_errs
    assert [e.reason for e in fast_errs].count("malformed_event") == 2
    assert len(fast) == 2
    assert len(fast_errs) == len(values) - 2


def test_a_schema_it_cannot_read_is_refused() -> None:
    fields: list[dict[str, Any]] = [{"name": n, "type": "string"} for n in NEEDED]
    compile_event_reader({"fields": fields})
    with pytest.raises(ValueError, match="unsupported"):
        compile_event_reader({"fields": [*fields, {"name": "score", "type": "double"}]})
    with pytest.raises(ValueError, match="unsupported"):
        compile_event_reader({"fields": [*fields, {"name": "u", "type": ["null", "int"]}]})
    with pytest.raises(ValueError, match="has no"):
        compile_event_reader({"fields": [{"name": "message_id", "type": "string"}]})
