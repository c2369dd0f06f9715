"""PII in the stored format, for tests that write or read the tables directly.

Identifiers are stored under their match value with the value sealed beside it, and PII traits
and timeline values as sealed strings (`cdp.privacy.atrest`); these helpers write and read rows
that way under the settings' keys, so a test never spells a stored value itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cdp.identity import Identifier
from cdp.privacy.atrest import PiiCodec
from cdp.privacy.keystate import pii_codec
from cdp.settings import Settings

__all__ = ["codec_of", "identifier_row", "match", "seal", "seal_properties"]


def codec_of(settings: Settings) -> PiiCodec:
    """The codec the processor and the API use under `settings`."""
    return pii_codec(settings)


def match(settings: Settings, id_type: str, value: str) -> str:
    """The ``identifiers.id_value`` of a normalised identifier (its keyed hash, when encrypted)."""
    return codec_of(settings).match(Identifier(id_type, value)).value


def identifier_row(
    settings: Settings,
    id_type: str,
    value: str,
    profile_id: int,
    first_seen: datetime,
    last_seen: datetime | None = None,
) -> dict[str, Any]:
    """An ``identifiers`` row as the processor writes it for the normalised `value`."""
    codec = codec_of(settings)
    stored = codec.match(Identifier(id_type, value)).value
    sealed = codec.seal_identifier(Identifier(id_type, value), stored)
    return {
        "id_type": id_type,
        "id_value": stored,
        "value_enc": sealed[0] if sealed else None,
        "key_id": sealed[1] if sealed else None,
        "profile_id": profile_id,
        "first_seen": first_seen,
        "last_seen": last_seen or first_seen,
    }


def seal(settings: Settings, document: Any) -> Any:
    """`document` with its PII-named values sealed, as profile and group traits, the traits of
    identify and group events and every event's context are stored."""
    return codec_of(settings).seal_document(document)


def seal_properties(settings: Settings, document: Any) -> Any:
    """`document` sealed as the properties of a track, page, screen or alias event are stored:
    by the PII property names (`Settings.pii_property_names`; a product's ``name`` stays clear)."""
    return codec_of(settings).properties.seal_document(document)
