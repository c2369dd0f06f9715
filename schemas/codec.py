"""Avro records in the Confluent wire format: magic byte 0, a 4-byte big-endian schema id, the body.

Readers decode with the writer's schema (found by id) resolved against the current schema, so a
record written with any earlier version reads as the current shape. Writers use a writer
specialised to the schema (`cdp.schemas.encoder`), byte for byte what fastavro writes.
"""

from __future__ import annotations

import io
import struct
from typing import Any

from fastavro import schemaless_reader

from cdp.schemas.catalog import ManifestCatalog, RegistryCatalog, SchemaCatalog
from cdp.schemas.encoder import RecordWriter, compile_writer
from cdp.schemas.errors import DecodeError
from cdp.settings import Settings

__all__ = ["Codec", "codec_for"]

MAGIC = 0
HEADER = struct.Struct(">bI")


class Codec:
    """Encodes and decodes the records of known subjects."""

    def __init__(self, catalog: SchemaCatalog) -> None:
        self._catalog = catalog
        self._writers: dict[int, RecordWriter] = {}

    def encode(self, subject: str, record: dict[str, Any]) -> bytes:
        """Frame and encode `record` with the current schema of `subject`."""
        schema_id, schema = self._catalog.writer(subject)
        write = self._writers.get(schema_id)
        if write is None:
            write = compile_writer(schema, HEADER.pack(MAGIC, schema_id))
            self._writers[schema_id] = write
        return write(record)

    def decode(self, subject: str, data: bytes) -> dict[str, Any]:
        """Decode `data` into the current shape of `subject`; `DecodeError` if it is not one."""
        if len(data) < HEADER.size:
            raise DecodeError("record shorter than the Confluent header")
        magic, schema_id = HEADER.unpack_from(data)
        if magic != MAGIC:
            raise DecodeError(f"unknown magic byte {magic}")
        _, reader = self._catalog.writer(subject)
        return _read(data, self._catalog.by_id(schema_id), reader)

    def decode_any(self, data: bytes) -> dict[str, Any]:
        """Decode `data` with the schema its header names, whatever the subject."""
        return _read(data, self._catalog.by_id(self.schema_id(data)), None)

    def schema(self, schema_id: int) -> Any:
        """The parsed schema registered under `schema_id` (to write a record back unchanged)."""
        return self._catalog.by_id(schema_id)

    def schema_id(self, data: bytes) -> int:
        """The schema id in the header of `data`."""
        if len(data) < HEADER.size or data[0] != MAGIC:
            raise DecodeError("not a Confluent-framed record")
        return int(HEADER.unpack_from(data)[1])


def _read(data: bytes, writer: Any, reader: Any) -> dict[str, Any]:
    """The record after the header, written with `writer`, resolved to `reader` (or `writer`)."""
    try:
        record = schemaless_reader(io.BytesIO(data[HEADER.size :]), writer, reader)
    except Exception as exc:
        raise DecodeError(f"undecodable record: {exc}") from exc
    if not isinstance(record, dict):
        raise DecodeError("the schema is not a record schema")
    return record


def codec_for(settings: Settings) -> Codec:
    """The codec the settings call for: registry ids when a registry is configured, else the manifest."""
    if settings.schema_registry_url:
        auth = settings.schema_registry_basic_auth
        return Codec(
            RegistryCatalog(settings.schema_registry_url, auth.get_secret_value() if auth else None)
        )
    return Codec(ManifestCatalog())
