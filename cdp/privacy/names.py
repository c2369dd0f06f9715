"""Trait names as PII settings compare them: ``first_name``, ``firstName`` and ``First-Name``
are one name; and which names are PII where (traits, or event properties)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "PROPERTIES_SETTING",
    "TRAITS_SETTING",
    "TRAIT_PAYLOADS",
    "PiiNames",
    "normal_name",
]

#: Event types whose timeline ``properties`` column holds the call's traits, not properties:
#: their PII names are the trait names.
TRAIT_PAYLOADS = frozenset({"identify", "group"})
#: The settings naming PII traits and PII event properties, as error messages cite them.
TRAITS_SETTING, PROPERTIES_SETTING = "CDP_PII_TRAITS", "CDP_PRIVACY__PII_PROPERTIES"


def normal_name(name: str) -> str:
    """`name` lower-cased, without underscores, hyphens or spaces."""
    return name.lower().replace("_", "").replace("-", "").replace(" ", "")


@dataclass(frozen=True)
class PiiNames:
    """The normal names of PII traits (`Settings.pii_traits`: profile and group traits, the
    traits of identify and group events, an event's context) and of PII event properties
    (`Settings.pii_property_names`: the properties of track, page, screen and alias events)."""

    traits: frozenset[str]
    properties: frozenset[str]

    @classmethod
    def of(cls, traits: Iterable[str], properties: Iterable[str]) -> PiiNames:
        return cls(
            frozenset(normal_name(n) for n in traits), frozenset(normal_name(n) for n in properties)
        )

    def trait(self, name: str) -> bool:
        """Whether a trait (profile, group or context trait) named `name` is PII."""
        return normal_name(name) in self.traits

    def property(self, name: str, event_type: str | None) -> bool:
        """Whether the timeline's ``properties`` key `name` is PII in events of `event_type`;
        None stands for any type, identify and group events (whose traits are stored there)
        included, so a name PII in either is PII."""
        return self.property_setting(name, event_type) is not None

    def property_setting(self, name: str, event_type: str | None) -> str | None:
        """The setting that makes `property(name, event_type)` true, for messages; None when
        it is false."""
        normal = normal_name(name)
        if event_type not in TRAIT_PAYLOADS and normal in self.properties:
            return PROPERTIES_SETTING
        if (event_type is None or event_type in TRAIT_PAYLOADS) and normal in self.traits:
            return TRAITS_SETTING
        return None
