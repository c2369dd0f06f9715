"""The specialised Avro writers write what fastavro writes, and what they write reads back."""

from __future__ import annotations

import io
import struct
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from fastavro import parse_schema, schemaless_writer
from fastavro.utils import generate_many

from cdp.schemas import EVENT, Codec, ManifestCatalog
from cdp.schemas.catalog import AVRO_DIR, manifest
from cdp.schemas.encoder import (
    LONG_CACHE_SIZE,
    TABLE_SIZE,
    NotSupported,
    compile_writer,
    fastavro_writer,
    generated_source,
    specialised_writer,
)

VERSIONS = [
    (subject, v["id"], v["file"]) for subject, versions in manifest().items() for v in versions
]
RECORDS_PER_VERSION = 500
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LONGS = [
    0, 1, -1, 63, -64, 64, -65, 8191, 8192, TABLE_SIZE // 2 - 1, TABLE_SIZE // 2, TABLE_SIZE,
    2**27, 2**28, 2**35, 2**41, 2**42, 1_714_564_800_250, -1_714_564_800_250,
    2**62, -(2**62), 2**63 - 1, -(2**63),
]  # fmt: skip
#: fastavro reads timestamp-millis as datetimes, so only years 1 to 9999 read back.
READABLE_MS = range(-62_135_596_800_000, 253_402_300_800_000)
STRINGS = ["", "a", "é", "日本語", "emoji 🎉", "x" * (TABLE_SIZE // 2), "y" * (TABLE_SIZE + 3)]


def parsed(schema_file: str) -> Any:
    return parse_schema(orjson.loads((AVRO_DIR / schema_file).read_bytes()))


def header(schema_id: int) -> bytes:
    return struct.pack(">bI", 0, schema_id)


def reference(schema: Any, schema_id: int, record: Any) -> bytes:
    out = io.BytesIO()
    out.write(header(schema_id))
    schemaless_writer(out, schema, record)
    return out.getvalue()


def variants(schema: Any, readable: bool = False) -> list[dict[str, Any]]:
    """Generated records, then the same with edge values put in every field that can take them.

    `readable` leaves out timestamps fastavro cannot turn into a datetime when reading.
    """
    records = list(generate_many(schema, RECORDS_PER_VERSION))
    base = records[0]
    for field in schema["fields"]:
        kind = orjson.dumps(field["type"]).decode()
        if '"long"' in kind and "array" not in kind:
            timestamp = "timestamp-millis" in kind
            records += [
                {**base, field["name"]: n}
                for n in LONGS
                if not (readable and timestamp and n not in READABLE_MS)
            ]
        if '"string"' in kind and "array" not in kind:
            records += [{**base, field["name"]: s} for s in STRINGS]
        if "array" in kind:
            records += [{**base, field["name"]: []}]
        if '"long"' in kind and "array" in kind:
            records += [{**base, field["name"]: LONGS}]
        if '"string"' in kind and "array" in kind:
            records += [{**base, field["name"]: STRINGS}]
        if '"bytes"' in kind:
            records += [{**base, field["name"]: b}
                        for b in (b"", b"\x00\xff", b"z" * (TABLE_SIZE + 1))]  # fmt: skip
        if '"null"' in kind:
            records += [{**base, field["name"]: None}]
    return records


@pytest.mark.parametrize(("subject", "schema_id", "schema_file"), VERSIONS)
def test_every_schema_version_gets_a_specialised_writer(
    subject: str, schema_id: int, schema_file: str
) -> None:
    assert specialised_writer(parsed(schema_file)) is not None, subject


@pytest.mark.parametrize(("subject", "schema_id", "schema_file"), VERSIONS)
def test_the_specialised_writer_writes_what_fastavro_writes(
    subject: str, schema_id: int, schema_file: str
) -> None:
    schema = parsed(schema_file)
    write = specialised_writer(schema, header(schema_id))
    assert write is not None
    for record in variants(schema):
        assert write(record) == reference(schema, schema_id, record), record


@pytest.mark.parametrize(("subject", "schema_id", "schema_file"), VERSIONS)
def test_what_the_codec_writes_reads_back(subject: str, schema_id: int, schema_file: str) -> None:
    schema = parsed(schema_file)
    write = compile_writer(schema, header(schema_id))
    codec = Codec(ManifestCatalog())
    for record in variants(schema, readable=True):
        assert codec.decode_any(write(record)) == as_read(schema, record)


def as_read(schema: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """`record` as fastavro reads it back: timestamp-millis fields become datetimes."""
    out = dict(record)
    for field in schema["fields"]:
        if (
            "timestamp-millis" in orjson.dumps(field["type"]).decode()
            and out[field["name"]] is not None
        ):
            out[field["name"]] = EPOCH + timedelta(milliseconds=out[field["name"]])
    return out


def test_the_codec_encodes_the_current_event_as_fastavro_does() -> None:
    catalog = ManifestCatalog()
    schema_id, schema = catalog.writer(EVENT)
    codec = Codec(catalog)
    for record in generate_many(schema, 50):
        assert codec.encode(EVENT, record) == reference(schema, schema_id, record)


EVENT_FILE = manifest()[EVENT][-1]["file"]


def _event() -> dict[str, Any]:
    return next(iter(generate_many(parsed(EVENT_FILE), 1)))


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"timestamp": datetime(2024, 5, 1, 12, tzinfo=UTC)}, id="datetime"),
        pytest.param({"sent_at": datetime(2024, 5, 1, 12, tzinfo=UTC)}, id="datetime-in-union"),
        pytest.param({"received_at": True}, id="bool-as-long"),
        pytest.param({"properties": None}, id="missing-value-with-default"),
        pytest.param({"user_id": ("string", "u1")}, id="tuple-notation"),
    ],
)
def test_records_the_writer_does_not_take_as_they_are_go_to_fastavro(
    change: dict[str, Any],
) -> None:
    schema = parsed(EVENT_FILE)
    record = {**_event(), **change}
    if change.get("properties", "") is None:
        del record["properties"]
    fast = specialised_writer(schema)
    assert fast is not None
    with pytest.raises((NotSupported, KeyError, TypeError, ValueError)):
        fast(record)
    assert compile_writer(schema)(record) == fastavro_writer(schema)(record)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"received_at": 2**63}, id="long-too-large"),
        pytest.param({"message_id": 12}, id="number-as-string"),
        pytest.param({"message_id": None}, id="null-not-in-type"),
        pytest.param({"user_id": 5}, id="no-union-branch"),
        pytest.param({"message_id": "\ud800"}, id="lone-surrogate"),
    ],
)
def test_records_fastavro_refuses_are_refused_with_its_error(change: dict[str, Any]) -> None:
    schema = parsed(EVENT_FILE)
    record = {**_event(), **change}
    with pytest.raises(Exception) as by_fastavro:  # noqa: PT011
        fastavro_writer(schema)(record)
    with pytest.raises(type(by_fastavro.value)):
        compile_writer(schema)(record)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "record", "name": "M", "fields": [{"name": "m", "type": {"type": "map", "values": "string"}}]},
        {"type": "record", "name": "I", "fields": [{"name": "i", "type": "int"}]},
        {"type": "record", "name": "U", "fields": [{"name": "u", "type": ["string", "long"]}]},
        {"type": "record", "name": "D", "fields": [{"name": "d", "type": {"type": "int", "logicalType": "date"}}]},
    ],
    ids=["map", "int", "union-without-null", "date"],
)  # fmt: skip
def test_schemas_with_other_types_are_written_by_fastavro(schema: dict[str, Any]) -> None:
    parsed_schema = parse_schema(schema)
    assert specialised_writer(parsed_schema) is None
    record = next(iter(generate_many(parsed_schema, 1)))
    assert compile_writer(parsed_schema, b"P")(record) == fastavro_writer(parsed_schema, b"P")(
        record
    )


def test_nested_records_and_unions_of_them_are_specialised() -> None:
    schema = parse_schema(
        {
            "type": "record",
            "name": "Outer",
            "fields": [
                {
                    "name": "inner",
                    "type": {
                        "type": "record",
                        "name": "Inner",
                        "fields": [{"name": "s", "type": "string"}, {"name": "n", "type": "long"}],
                    },
                },
                {"name": "maybe", "type": ["null", "string"]},
                {"name": "items", "type": {"type": "array", "items": ["null", "long"]}},
                {"name": "last", "type": ["long", "null"]},
            ],
        }
    )
    assert "def write" in generated_source(schema)
    write = specialised_writer(schema)
    assert write is not None
    for record in generate_many(schema, 200):
        assert write(record) == fastavro_writer(schema)(record)


def test_timestamps_stay_exact_through_the_varint_cache() -> None:
    schema = parsed(EVENT_FILE)
    write = specialised_writer(schema)
    assert write is not None
    base = _event()
    stamps = [1_714_564_800_000 + 7 * i for i in range(LONG_CACHE_SIZE + 100)]
    for stamp in stamps + stamps[::-1]:
        record = {**base, "timestamp": stamp, "received_at": stamp + 1, "sent_at": stamp}
        assert write(record) == fastavro_writer(schema)(record)
