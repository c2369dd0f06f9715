"""Every schema version ever released stays readable with the current one."""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastavro import parse_schema, schemaless_writer
from fastavro.utils import generate_many

from cdp.schemas import DEAD_LETTER, EVENT, Codec, DecodeError, ManifestCatalog
from cdp.schemas.catalog import AVRO_DIR, manifest

VERSIONS = [
    (subject, v["id"], v["file"]) for subject, versions in manifest().items() for v in versions
]


def encode_with(schema_file: str, schema_id: int, record: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    out.write(struct.pack(">bI", 0, schema_id))
    schemaless_writer(
        out, parse_schema(orjson.loads((AVRO_DIR / schema_file).read_bytes())), record
    )
    return out.getvalue()


@pytest.mark.parametrize(("subject", "schema_id", "schema_file"), VERSIONS)
def test_data_written_with_every_version_reads_with_the_current_schema(
    subject: str, schema_id: int, schema_file: str
) -> None:
    codec = Codec(ManifestCatalog())
    writer = orjson.loads((AVRO_DIR / schema_file).read_bytes())
    current_fields = {f["name"] for f in manifest_current(subject)["fields"]}
    for record in generate_many(writer, 25):
        decoded = codec.decode(subject, encode_with(schema_file, schema_id, record))
        assert set(decoded) == current_fields


def manifest_current(subject: str) -> dict[str, Any]:
    schema: dict[str, Any] = orjson.loads((AVRO_DIR / manifest()[subject][-1]["file"]).read_bytes())
    return schema


def test_manifest_ids_are_unique_and_files_match_their_subject() -> None:
    ids = [schema_id for _, schema_id, _ in VERSIONS]
    assert len(ids) == len(set(ids))
    for subject, _, schema_file in VERSIONS:
        schema = orjson.loads((AVRO_DIR / schema_file).read_bytes())
        assert f"{schema['namespace']}.{schema['name']}" == subject


def test_every_schema_file_is_released_in_the_manifest() -> None:
    listed = {schema_file for _, _, schema_file in VERSIONS}
    assert {p.name for p in Path(AVRO_DIR).glob("*.avsc")} == listed


def test_subjects_used_by_the_code_are_in_the_manifest() -> None:
    assert {EVENT, DEAD_LETTER} <= set(manifest())


def test_round_trip_in_the_confluent_wire_format() -> None:
    codec = Codec(ManifestCatalog())
    record = {"stage": "collector", "reason": "r", "message": "m", "payload": b"{}", "failed_at": 1}
    data = codec.encode(DEAD_LETTER, record)
    assert data[0] == 0
    assert struct.unpack(">I", data[1:5])[0] == manifest()[DEAD_LETTER][-1]["id"]
    assert codec.decode(DEAD_LETTER, data)["reason"] == "r"
    assert codec.decode_any(data)["stage"] == "collector"


@pytest.mark.parametrize("data", [b"", b"\x01\x00\x00\x00\x01abc", b"\x00\x00\x00\x99\x99abc"])
def test_foreign_bytes_are_a_decode_error(data: bytes) -> None:
    codec = Codec(ManifestCatalog())
    with pytest.raises(DecodeError):
        codec.decode_any(data)
