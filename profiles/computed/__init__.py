"""Configurable computed traits: definitions, incremental maintenance, backfill and expiry."""

from cdp.profiles.computed.catalog import apply_traits, delete_trait, list_traits
from cdp.profiles.computed.errors import TraitDefinitionError
from cdp.profiles.computed.expiry import expire_due
from cdp.profiles.computed.maintain import ComputedTraits
from cdp.profiles.computed.model import TraitDefinition, load_traits, parse_trait, parse_traits

__all__ = [
    "ComputedTraits",
    "TraitDefinition",
    "TraitDefinitionError",
    "apply_traits",
    "delete_trait",
    "expire_due",
    "list_traits",
    "load_traits",
    "parse_trait",
    "parse_traits",
]
