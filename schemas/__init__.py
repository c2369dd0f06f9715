"""Avro schemas of the records cdp puts on Kafka, and their Confluent-framed codec."""

from cdp.schemas.catalog import (
    DEAD_LETTER,
    EVENT,
    MEMBERSHIP_CHANGE,
    PROFILE_CHANGE,
    ManifestCatalog,
    RegistryCatalog,
)
from cdp.schemas.codec import Codec, codec_for
from cdp.schemas.errors import DecodeError, RegistryUnavailable, SchemaError, UnknownSchema

__all__ = [
    "DEAD_LETTER",
    "EVENT",
    "MEMBERSHIP_CHANGE",
    "PROFILE_CHANGE",
    "Codec",
    "DecodeError",
    "ManifestCatalog",
    "RegistryCatalog",
    "RegistryUnavailable",
    "SchemaError",
    "UnknownSchema",
    "codec_for",
]
