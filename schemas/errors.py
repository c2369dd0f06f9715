"""Errors of the schema codec."""

from __future__ import annotations

from cdp.errors import CdpError

__all__ = ["DecodeError", "SchemaError"]


class SchemaError(CdpError):
    """A schema is missing, malformed, or the registry refused it."""


class DecodeError(CdpError):
    """Bytes are not a Confluent-framed Avro record of a known schema."""
