"""Masking PII in API answers for keys without the `pii:read` role.

The shape chosen keeps what is useful for support and analytics and drops what identifies:
an email keeps its first character and its domain (``j***@example.com``), a phone number its
leading ``+`` and country digits and its last two digits, with every other digit a ``*``
(``+44******89``), any other value becomes ``"***"`` (numbers and booleans too, as their type
could say something), and null stays null. Trait names match whatever their spelling
(``first_name``, ``firstName``, ``First-Name``), at any depth, and a matched object or list
(Segment's ``address`` with its ``street``, ``city``, ``postal_code``...) is masked leaf by leaf.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cdp.privacy.names import TRAIT_PAYLOADS, normal_name

__all__ = ["MASK", "PiiMask", "mask_value"]

MASK = "***"
_PHONE = re.compile(r"\+?[\d\s().-]{6,}")
#: Digits left visible at each end of a phone number: the country code (up to two digits) and
#: the last two, as call centres show them; the rest identifies the line and is hidden.
PHONE_HEAD, PHONE_TAIL = 2, 2


def mask_email(value: str) -> str:
    local, _, domain = value.rpartition("@")
    return f"{local[:1]}{MASK}@{domain}" if local and domain else MASK


def mask_phone(value: str) -> str:
    digits = [c for c in value if c.isdigit()]
    if len(digits) <= PHONE_HEAD + PHONE_TAIL:
        return MASK
    hidden = len(digits) - PHONE_HEAD - PHONE_TAIL
    plus = "+" if value.lstrip().startswith("+") else ""
    return plus + "".join(digits[:PHONE_HEAD]) + "*" * hidden + "".join(digits[-PHONE_TAIL:])


def mask_value(value: Any) -> Any:
    """`value` masked whole: objects and lists leaf by leaf, strings by their shape, null kept."""
    if value is None:
        return None
    if isinstance(value, dict):
        return {k: mask_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(v) for v in value]
    if isinstance(value, str):
        if "@" in value:
            return mask_email(value)
        if _PHONE.fullmatch(value.strip()):
            return mask_phone(value)
    return MASK


@dataclass(frozen=True)
class PiiMask:
    """Which trait names, event property names and identifier types are PII (from settings),
    and masking by them. `property_names` None: the trait names."""

    names: frozenset[str]
    identifier_types: frozenset[str]
    property_names: frozenset[str] | None = None

    @classmethod
    def of(
        cls,
        trait_names: Iterable[str],
        identifier_types: Iterable[str],
        property_names: Iterable[str] | None = None,
    ) -> PiiMask:
        return cls(
            frozenset(normal_name(n) for n in trait_names),
            frozenset(identifier_types),
            None if property_names is None else frozenset(normal_name(n) for n in property_names),
        )

    def document(self, value: Any) -> Any:
        """`value` with the value under every PII-named key masked, at any depth."""
        return _masked(value, self.names)

    def event_properties(self, event_type: str | None, value: Any) -> Any:
        """A timeline event's properties masked as they are sealed at rest: by the trait names
        for identify and group events (their traits), by the property names for others (a
        product's ``name`` is shown), by both when the type is not known."""
        if self.property_names is None or event_type in TRAIT_PAYLOADS:
            return _masked(value, self.names)
        if event_type is None:
            return _masked(value, self.names | self.property_names)
        return _masked(value, self.property_names)

    def identifier(self, id_type: str, value: str) -> str:
        """An identifier's value, masked when its type is PII."""
        return str(mask_value(value)) if id_type in self.identifier_types else value


def _masked(value: Any, names: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {
            k: mask_value(v) if normal_name(str(k)) in names else _masked(v, names)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_masked(v, names) for v in value]
    return value
