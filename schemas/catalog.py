"""Schema ids and parsed schemas, from the checked-in manifest or a Confluent schema registry.

A subject is the Avro full name of a record (``cdp.Event``), i.e. the record-name strategy, so the
same schema can be used on several topics.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, Protocol

import orjson
from fastavro import parse_schema

from cdp.schemas.errors import RegistryUnavailable, SchemaError, UnknownSchema

__all__ = [
    "AVRO_DIR",
    "DEAD_LETTER",
    "EVENT",
    "MEMBERSHIP_CHANGE",
    "PROFILE_CHANGE",
    "ManifestCatalog",
    "RegistryCatalog",
    "SchemaCatalog",
]

AVRO_DIR = Path(__file__).with_name("avro")
EVENT = "cdp.Event"
DEAD_LETTER = "cdp.DeadLetter"
PROFILE_CHANGE = "cdp.ProfileChange"
MEMBERSHIP_CHANGE = "cdp.MembershipChange"

ParsedSchema = Any
NOT_FOUND = 404


class SchemaCatalog(Protocol):
    """Where writer ids come from and where a reader finds the schema behind an id."""

    def writer(self, subject: str) -> tuple[int, ParsedSchema]:
        """The id and parsed schema writers of `subject` use now."""
        ...

    def by_id(self, schema_id: int) -> ParsedSchema:
        """The parsed schema registered under `schema_id`."""
        ...


def load_avsc(path: Path) -> dict[str, Any]:
    try:
        schema: dict[str, Any] = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise SchemaError(f"cannot read schema {path.name}: {exc}") from exc
    return schema


@cache
def manifest() -> dict[str, list[dict[str, Any]]]:
    """Subject → versions (id and file), oldest first."""
    data: dict[str, list[dict[str, Any]]] = orjson.loads((AVRO_DIR / "manifest.json").read_bytes())[
        "subjects"
    ]
    return data


class _Writers:
    """The writer schema of each subject, as the subclass filled it in at start-up."""

    def __init__(self) -> None:
        self._by_id: dict[int, ParsedSchema] = {}
        self._writers: dict[str, tuple[int, ParsedSchema]] = {}

    def writer(self, subject: str) -> tuple[int, ParsedSchema]:
        try:
            return self._writers[subject]
        except KeyError:
            raise SchemaError(f"unknown schema subject {subject!r}") from None


class ManifestCatalog(_Writers):
    """Schema ids from `schemas/avro/manifest.json`; no network involved."""

    def __init__(self) -> None:
        super().__init__()
        for subject, versions in manifest().items():
            for version in versions:
                self._by_id[version["id"]] = parse_schema(load_avsc(AVRO_DIR / version["file"]))
            latest = versions[-1]["id"]
            self._writers[subject] = (latest, self._by_id[latest])

    def by_id(self, schema_id: int) -> ParsedSchema:
        try:
            return self._by_id[schema_id]
        except KeyError:
            raise UnknownSchema(f"unknown schema id {schema_id}") from None


class RegistryCatalog(_Writers):
    """Schema ids from a Confluent-compatible schema registry (confluent-kafka's client).

    The current version of every subject is registered once at start-up (a no-op if the registry
    already has it); ids seen while reading are fetched once and cached.
    """

    def __init__(self, url: str, basic_auth: str | None = None) -> None:
        from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

        conf: dict[str, str] = {"url": url}
        if basic_auth:
            conf["basic.auth.user.info"] = basic_auth
        super().__init__()
        self._client = SchemaRegistryClient(conf)
        for subject, versions in manifest().items():
            raw = load_avsc(AVRO_DIR / versions[-1]["file"])
            try:
                schema_id = self._client.register_schema(
                    subject, Schema(orjson.dumps(raw).decode(), "AVRO")
                )
            except Exception as exc:
                raise SchemaError(f"the schema registry refused {subject}: {exc}") from exc
            parsed = parse_schema(raw)
            self._by_id[schema_id] = parsed
            self._writers[subject] = (schema_id, parsed)

    def by_id(self, schema_id: int) -> ParsedSchema:
        if schema_id not in self._by_id:
            from confluent_kafka.schema_registry.error import SchemaRegistryError

            try:
                found = self._client.get_schema(schema_id)
            except SchemaRegistryError as exc:
                if exc.http_status_code == NOT_FOUND:
                    raise UnknownSchema(f"the schema registry has no schema {schema_id}") from exc
                raise RegistryUnavailable(
                    f"schema registry error for id {schema_id}: {exc}"
                ) from exc
            except Exception as exc:
                raise RegistryUnavailable(
                    f"the schema registry did not answer for id {schema_id}: {exc}"
                ) from exc
            if found.schema_str is None:
                raise UnknownSchema(f"the schema registry returned no text for schema {schema_id}")
            self._by_id[schema_id] = parse_schema(orjson.loads(found.schema_str))
        return self._by_id[schema_id]
