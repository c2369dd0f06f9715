"""Raw-topic messages → events to fold, and dead letters for what cannot be read (oks, errs).

Records written with the current `cdp.Event` schema are read by a function generated for that
schema (`compile_event_reader`): it reads the fields the processor folds straight off the bytes
and keeps timestamps as epoch milliseconds, where the codec (fastavro) interprets the schema per
record and makes datetimes that the processor turns back into milliseconds (about 5 µs instead
of 15-35 µs per event here). Any other record (an older schema, a registry id it was not built
for) and any record the generated reader does not take exactly (truncated, a union branch out
of range, a timestamp a datetime cannot hold, JSON that does not parse) goes through the codec
as before, so what is accepted, rejected and dead-lettered does not change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from cdp.deadletter import DeadLetter
from cdp.profiles.events import InEvent, to_in_event
from cdp.schemas import EVENT, Codec, DecodeError

__all__ = ["STAGE", "EventDecoder", "compile_event_reader"]

STAGE = "processor"
#: Bytes before the Avro body: the Confluent magic byte and the 4-byte schema id.
HEADER_SIZE = 5
#: The fields an `InEvent` is made of, in the order the generated reader returns them.
NEEDED = (
    "message_id", "type", "source_id", "user_id", "anonymous_id", "event", "name", "group_id",
    "previous_id", "timestamp", "received_at", "properties", "traits", "context",
)  # fmt: skip
#: The instants a `datetime` can hold, in epoch ms (years 1 to 9999): fastavro fails a record
#: with a timestamp-millis outside them, so the generated reader hands such a record back.
MIN_MS = -62_135_596_800_000
MAX_MS = 253_402_300_799_999
LONG_MIN = -(1 << 63)
LONG_MAX = (1 << 63) - 1
#: A long takes at most ten bytes as an Avro varint.
MAX_VARINT_BYTES = 10

EventReader = Callable[[bytes], tuple[Any, ...]]


class _NotExact(Exception):
    """The generated reader does not take this record exactly as fastavro would."""


def _long(data: bytes, pos: int) -> tuple[int, int]:
    """The zig-zag varint at `pos` and the position after it."""
    byte = data[pos]
    if byte < 0x80:
        return (byte >> 1) ^ -(byte & 1), pos + 1
    value = byte & 0x7F
    shift = 7
    end = pos + MAX_VARINT_BYTES
    pos += 1
    while pos < end:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            decoded = (value >> 1) ^ -(value & 1)
            if not LONG_MIN <= decoded <= LONG_MAX:
                raise _NotExact("long out of range")
            return decoded, pos
        shift += 7
    raise _NotExact("varint too long")


def _length(data: bytes, pos: int) -> tuple[int, int]:
    """A string's length at `pos`, checked against the data, and the position after it."""
    size, pos = _long(data, pos)
    if size < 0 or pos + size > len(data):
        raise _NotExact("string length out of range")
    return size, pos


def _branch(spec: Any) -> tuple[str, bool]:
    """(avro type, is timestamp-millis) of a non-union field type, if the reader handles it."""
    if isinstance(spec, str) and spec in ("string", "long"):
        return spec, False
    if isinstance(spec, Mapping) and spec.get("type") == "long":
        logical = spec.get("logicalType")
        if logical is None or logical == "timestamp-millis":
            return "long", logical is not None
    raise ValueError(f"unsupported field type {spec!r}")


def _read_lines(kind: str, stamp: bool, target: str | None, indent: str) -> list[str]:
    """Source lines reading one value of `kind` into `target` (None: skip it)."""
    if kind == "string":
        lines = [
            "b = data[pos]",
            "if b < 0x80 and not b & 1:",
            "    n = b >> 1",
            "    pos += 1",
            "    if pos + n > size:",
            "        raise _NotExact('short record')",
            "elif not b & 1 and data[pos + 1] < 0x80:",
            "    n = ((b & 0x7F) | (data[pos + 1] << 7)) >> 1",
            "    pos += 2",
            "    if pos + n > size:",
            "        raise _NotExact('short record')",
            "else:",
            "    n, pos = _length(data, pos)",
        ]
        if target is not None:
            lines.append(f"{target} = data[pos:pos + n].decode()")
        lines.append("pos += n")
    else:
        lines = [f"{target or '_'}, pos = _long(data, pos)"]
        if stamp:
            lines += [
                f"if not MIN_MS <= {target or '_'} <= MAX_MS:",
                "    raise _NotExact('timestamp out of range')",
            ]
    return [indent + line for line in lines]


def compile_event_reader(schema: Mapping[str, Any]) -> EventReader:
    """A function reading a Confluent-framed record of the parsed record `schema` into the values
    of `NEEDED`, in that order; it raises on anything it does not read exactly as fastavro does.

    `ValueError` if the schema has a field type the reader does not handle (anything but
    string, long, timestamp-millis and unions of null with one of them) or lacks a needed field.
    """
    fields = [field["name"] for field in schema["fields"]]
    missing = [name for name in NEEDED if name not in fields]
    if missing:
        raise ValueError(f"the schema has no {', '.join(missing)}")
    lines = ["def read(data):", "    size = len(data)", f"    pos = {HEADER_SIZE}"]
    for field in schema["fields"]:
        name, spec = field["name"], field["type"]
        target = f"v_{name}" if name in NEEDED else None
        if isinstance(spec, list):
            if len(spec) != 2 or "null" not in spec:
                raise ValueError(f"unsupported union {spec!r}")
            kind, stamp = _branch(spec[1 - spec.index("null")])
            null_byte = 2 * spec.index("null")
            lines += [
                "    b = data[pos]",
                "    pos += 1",
                f"    if b == {null_byte}:",
                f"        {target or '_'} = None",
                f"    elif b == {2 - null_byte}:",
                *_read_lines(kind, stamp, target, "        "),
                "    else:",
                "        raise _NotExact('union branch out of range')",
            ]
        else:
            kind, stamp = _branch(spec)
            lines += _read_lines(kind, stamp, target, "    ")
    lines.append("    return (" + ", ".join(f"v_{name}" for name in NEEDED) + ",)")
    namespace: dict[str, Any] = {
        "_NotExact": _NotExact,
        "_long": _long,
        "_length": _length,
        "MIN_MS": MIN_MS,
        "MAX_MS": MAX_MS,
    }
    exec(compile("\n".join(lines), "<cdp.Event reader>", "exec"), namespace)  # noqa: S102
    reader: EventReader = namespace["read"]
    return reader


def _object(text: str) -> dict[str, Any]:
    value = orjson.loads(text) if text and text != "{}" else {}
    if not isinstance(value, dict):
        raise _NotExact("expected a JSON object")
    return value


class EventDecoder:
    """Decodes raw-topic messages for one codec, with a generated reader for the current schema."""

    def __init__(self, codec: Codec) -> None:
        self._codec = codec
        self._header, self._read = self._current_reader(codec)

    @staticmethod
    def _current_reader(codec: Codec) -> tuple[bytes, EventReader | None]:
        """The header of records in the current `cdp.Event` schema and their reader; no reader
        if the codec does not show its catalog, in which case every record goes through it."""
        catalog = getattr(codec, "_catalog", None)
        writer = getattr(catalog, "writer", None)
        if writer is None:
            return b"", None
        try:
            schema_id, schema = writer(EVENT)
            return b"\x00" + int(schema_id).to_bytes(4, "big"), compile_event_reader(schema)
        except Exception:  # noqa: BLE001 - any surprise only costs speed: the codec reads all
            return b"", None

    def decode_batch(self, messages: list[Any]) -> tuple[list[InEvent], list[DeadLetter]]:
        """Decode each message; one that is not a readable `cdp.Event` becomes a dead letter."""
        oks: list[InEvent] = []
        errs: list[DeadLetter] = []
        read, header = self._read, self._header
        for msg in messages:
            value: bytes = msg.value() or b""
            if read is not None and value.startswith(header):
                event = self._fast(read, value, msg.partition(), msg.offset())
                if event is not None:
                    oks.append(event)
                    continue
            self._slow(msg, value, oks, errs)
        return oks, errs

    @staticmethod
    def _fast(read: EventReader, value: bytes, partition: int, offset: int) -> InEvent | None:
        """The event read by the generated reader; None when it does not take the record, which
        the codec then reads (and rejects, if it is bad)."""
        try:
            (mid, kind, source, user, anonymous, event, name, group, previous, at, received,
             properties, traits, context) = read(value)  # fmt: skip
            return InEvent(
                partition, offset, mid, kind, source, user, anonymous, event, name, group,
                previous, at, received, _object(properties), _object(traits), _object(context),
                properties, context, value, traits_json=traits or "{}",
            )  # fmt: skip
        except Exception:  # noqa: BLE001 - whatever it is, the codec decides
            return None

    def _slow(self, msg: Any, value: bytes, oks: list[InEvent], errs: list[DeadLetter]) -> None:
        origin = f"{msg.topic()}/{msg.partition()}/{msg.offset()}"
        try:
            record = self._codec.decode(EVENT, value)
        except DecodeError as exc:
            errs.append(DeadLetter(STAGE, "undecodable", str(exc), value, origin=origin))
            return
        try:
            oks.append(to_in_event(record, msg.partition(), msg.offset(), value))
        except (KeyError, ValueError, TypeError, orjson.JSONDecodeError) as exc:
            errs.append(
                DeadLetter(
                    STAGE,
                    "malformed_event",
                    f"{type(exc).__name__}: {exc}",
                    value,
                    record.get("source_id"),
                    record.get("message_id"),
                    origin,
                )
            )
