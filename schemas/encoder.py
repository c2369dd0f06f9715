"""Avro binary writers specialised to one parsed schema, byte for byte what fastavro writes.

fastavro's `schemaless_writer` interprets the schema for every record it writes: about 15 µs for
one `cdp.Event` here, the largest single cost of the collector per event. `compile_writer`
instead generates, once per schema, a Python function that writes that schema's fields in
order with nothing left to look up (about 5 µs for the same Event).

It knows exactly the Avro types cdp's schemas use: records, `string`, `bytes`, `long` (plain or
`timestamp-millis`), arrays, and two-branch unions of `null` with one of those. A schema using
anything else is written by fastavro. So is any record the generated function does not take
exactly as it is (a value of another Python type, a missing field, a long out of range, a
datetime for a timestamp): fastavro then writes it, fills defaults or raises, as it always did.
fastavro stays the reference; the unit tests compare both writers on generated records.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from fastavro import schemaless_writer

__all__ = [
    "NotSupported",
    "RecordWriter",
    "compile_writer",
    "fastavro_writer",
    "generated_source",
    "specialised_writer",
]

RecordWriter = Callable[[Any], bytes]

#: Lengths below this (and longs whose zig-zag form is below it) are looked up, not computed.
#: 2**14 covers every length of one- and two-byte varints and nearly every JSON field cdp writes,
#: for about 0.6 MB of small bytes objects per table.
TABLE_SIZE = 1 << 14
LONG_MIN = -(1 << 63)
LONG_MAX = (1 << 63) - 1


class NotSupported(Exception):
    """The schema or the record is outside what the generated writer handles exactly."""


def _varint_slow(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


#: `_VARINT[n]`: the varint of a non-negative n; `_LENGTH[n]`: of a length n (zig-zag, i.e. 2n).
_VARINT = [_varint_slow(n) for n in range(TABLE_SIZE)]
_LENGTH = [_varint_slow(n << 1) for n in range(TABLE_SIZE)]
_PAIR = [bytes(((n & 0x7F) | 0x80, ((n >> 7) & 0x7F) | 0x80)) for n in range(TABLE_SIZE)]


#: Varints of large longs computed lately. Timestamps repeat: every event of a request has the
#: same `received_at`, and most a batch's `sentAt`; a lookup costs a tenth of the computation.
#: Cleared when full, so it never holds more than `LONG_CACHE_SIZE` entries (a few hundred KB).
_LONGS: dict[int, bytes] = {}
LONG_CACHE_SIZE = 4096


def _cached_varint(value: int) -> bytes:
    """`_varint(value)`, remembered in `_LONGS`."""
    encoded = _varint(value)
    if len(_LONGS) >= LONG_CACHE_SIZE:
        _LONGS.clear()
    _LONGS[value] = encoded
    return encoded


def _varint(value: int) -> bytes:
    """The varint of a non-negative `value`, fourteen bits per table lookup."""
    if value < TABLE_SIZE:
        return _VARINT[value]
    parts = []
    while value >= TABLE_SIZE:
        parts.append(_PAIR[value & 0x3FFF])
        value >>= 14
    parts.append(_VARINT[value])
    return b"".join(parts)


def fastavro_writer(schema: Any, prefix: bytes = b"") -> RecordWriter:
    """`prefix` followed by `record` as fastavro's `schemaless_writer` writes it with `schema`."""

    def write(record: Any) -> bytes:
        out = io.BytesIO()
        out.write(prefix)
        schemaless_writer(out, schema, record)
        return out.getvalue()

    return write


def compile_writer(schema: Any, prefix: bytes = b"") -> RecordWriter:
    """A function of a record returning `prefix` and the record's Avro binary encoding.

    `schema` is a schema as `fastavro.parse_schema` returns it. The result is exactly what
    `fastavro_writer(schema, prefix)` returns or raises for the same record.
    """
    slow = fastavro_writer(schema, prefix)
    fast = specialised_writer(schema, prefix)
    if fast is None:
        return slow

    def write(record: Any) -> bytes:
        try:
            return fast(record)
        except (NotSupported, KeyError, TypeError, ValueError):
            return slow(record)

    return write


def specialised_writer(schema: Any, prefix: bytes = b"") -> RecordWriter | None:
    """The generated function alone, or None when `schema` uses a type it does not know.

    It raises (`NotSupported`, `KeyError`, `TypeError` or `ValueError`) for a record it does not
    take exactly as it is; `compile_writer` hands those to fastavro.
    """
    try:
        source = generated_source(schema)
    except NotSupported:
        return None
    namespace: dict[str, Any] = {
        "_NotSupported": NotSupported,
        "_encode": str.encode,
        "_join": b"".join,
        "_varint": _varint,
        "_cached_varint": _cached_varint,
        "_LONGS": _LONGS,
        "_VARINT": _VARINT,
        "_LENGTH": _LENGTH,
        "_TABLE": TABLE_SIZE,
        "_MIN": LONG_MIN,
        "_MAX": LONG_MAX,
        "_PREFIX": prefix,
        "_EMPTY": b"",
    }
    code = compile(source, f"<avro writer of {_schema_name(schema)}>", "exec")
    exec(code, namespace)  # noqa: S102  (source generated above from the schema, names as literals)
    writer: RecordWriter = namespace["write"]
    return writer


def generated_source(schema: Any) -> str:
    """The Python source of the writer of `schema`; `NotSupported` if it uses another type."""
    return _Generator().function(schema)


def _schema_name(schema: Any) -> str:
    """The full name of a named schema, else its type, for messages and tracebacks."""
    if isinstance(schema, dict):
        return str(schema.get("name") or schema.get("type"))
    return str(schema)


class _Generator:
    """Python source for one schema: statements that leave each encoded part in a local."""

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._count = 0
        self._primitives: dict[str, Callable[[str, int], list[str]]] = {
            "string": self._string,
            "bytes": self._bytes,
            "long": self._long,
        }

    def function(self, schema: Any) -> str:
        self._lines = ["def write(v0):"]
        parts = self._emit(schema, "v0", 1)
        self._line(1, f"return _join((_PREFIX, {', '.join(parts)}))")
        return "\n".join(self._lines) + "\n"

    def _line(self, depth: int, text: str) -> None:
        self._lines.append("    " * depth + text)

    def _local(self, stem: str) -> str:
        self._count += 1
        return f"{stem}{self._count}"

    def _emit(self, schema: Any, value: str, depth: int) -> list[str]:
        """Statements encoding the Python value in local `value`; the locals holding the bytes."""
        if isinstance(schema, str):
            primitive = self._primitives.get(schema)
            if primitive is None:
                raise NotSupported(f"type {schema}")
            return primitive(value, depth)
        if isinstance(schema, list):
            return self._union(schema, value, depth)
        if not isinstance(schema, dict):
            raise NotSupported(f"schema {schema!r}")
        kind = schema.get("type")
        logical = schema.get("logicalType")
        if logical is not None:
            if kind == "long" and logical == "timestamp-millis":
                return self._long(value, depth)
            raise NotSupported(f"logical type {logical}")
        if kind == "record":
            return self._record(schema, value, depth)
        if kind == "array":
            return self._array(schema, value, depth)
        if isinstance(kind, str) and kind in self._primitives:
            return self._emit(kind, value, depth)
        raise NotSupported(f"type {kind}")

    def _string(self, value: str, depth: int) -> list[str]:
        body = self._local("b")
        self._line(depth, f"{body} = _encode({value})")
        return [self._length(body, depth), body]

    def _bytes(self, value: str, depth: int) -> list[str]:
        body = self._local("b")
        self._line(depth, f"if type({value}) is not bytes: raise _NotSupported")
        self._line(depth, f"{body} = {value}")
        return [self._length(body, depth), body]

    def _length(self, data: str, depth: int) -> str:
        size, head = self._local("n"), self._local("h")
        self._line(depth, f"{size} = len({data})")
        self._line(depth, f"{head} = _LENGTH[{size}] if {size} < _TABLE else _varint({size} << 1)")
        return head

    def _long(self, value: str, depth: int) -> list[str]:
        zigzag, out = self._local("z"), self._local("h")
        self._line(
            depth,
            f"if type({value}) is not int or not _MIN <= {value} <= _MAX: raise _NotSupported",
        )
        self._line(depth, f"{zigzag} = ({value} << 1) ^ ({value} >> 63)")
        self._line(
            depth,
            f"{out} = _VARINT[{zigzag}] if {zigzag} < _TABLE"
            f" else _LONGS.get({zigzag}) or _cached_varint({zigzag})",
        )
        return [out]

    def _union(self, branches: list[Any], value: str, depth: int) -> list[str]:
        if len(branches) != 2 or branches.count("null") != 1:
            raise NotSupported("a union other than null and one type")
        index = 1 - branches.index("null")
        other = branches[index]
        if isinstance(other, list):
            raise NotSupported("a union inside a union")
        tag = self._local("t")
        self._line(depth, f"if {value} is None:")
        null_at = len(self._lines)
        self._line(depth + 1, f"{tag} = {_varint_slow(2 * (1 - index))!r}")
        self._line(depth, "else:")
        self._line(depth + 1, f"{tag} = {_varint_slow(2 * index)!r}")
        parts = self._emit(other, value, depth + 1)
        emptied = ["    " * (depth + 1) + f"{part} = _EMPTY" for part in parts]
        self._lines[null_at + 1 : null_at + 1] = emptied
        return [tag, *parts]

    def _record(self, schema: dict[str, Any], value: str, depth: int) -> list[str]:
        self._line(depth, f"if type({value}) is not dict: raise _NotSupported")
        parts: list[str] = []
        for field in schema["fields"]:
            local = self._local("v")
            self._line(depth, f"{local} = {value}[{field['name']!r}]")
            parts += self._emit(field["type"], local, depth)
        return parts

    def _array(self, schema: dict[str, Any], value: str, depth: int) -> list[str]:
        out, item = self._local("a"), self._local("v")
        self._line(depth, f"if type({value}) is not list: raise _NotSupported")
        self._line(depth, f"if {value}:")
        self._line(depth + 1, f"{out} = [_varint(len({value}) << 1)]")
        self._line(depth + 1, f"for {item} in {value}:")
        parts = self._emit(schema["items"], item, depth + 2)
        self._line(depth + 2, f"{out} += ({', '.join(parts)},)")
        self._line(depth + 1, f"{out}.append(b'\\x00')")
        self._line(depth + 1, f"{out} = _join({out})")
        self._line(depth, "else:")
        self._line(depth + 1, f"{out} = b'\\x00'")
        return [out]
