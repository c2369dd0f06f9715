"""Errors of the schema codec."""

from __future__ import annotations

from cdp.errors import CdpError, RetryableError

__all__ = ["DecodeError", "RegistryUnavailable", "SchemaError", "UnknownSchema"]


class SchemaError(CdpError):
    """A schema is missing, malformed, or the registry refused it."""


class DecodeError(CdpError):
    """Bytes are not a Confluent-framed Avro record of a known schema."""


class UnknownSchema(DecodeError):
    """The record names a schema id that neither the manifest nor the registry knows."""


class RegistryUnavailable(RetryableError):
    """The schema registry could not be asked; the same lookup may work later."""
