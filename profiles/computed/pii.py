"""Computed traits and PII at rest: a trait cannot aggregate a PII property.

The timeline stores the value under every PII-named key sealed (`cdp.privacy.atrest`): the
traits of identify and group events by the PII trait names, the properties of other events by
the PII property names (`Settings.pii_property_names`; a product's ``name`` is not PII). Each
sealed value is its own ciphertext, so SQL over it would count, compare or keep ciphertext: a
"most frequent email" would be a random sealed string and a distinct count the number of
events. Such a definition is refused when it is applied (rather than sealing its result),
like a segment condition on a PII trait other than ``exists``. A definition without an event
type reads identify and group events too, so a name PII as a trait is refused there.
"""

from __future__ import annotations

from collections.abc import Iterable

from cdp.privacy.names import PiiNames
from cdp.profiles.computed.errors import TraitDefinitionError
from cdp.profiles.computed.model import TraitDefinition

__all__ = ["check_pii_traits", "pii_problems"]


def pii_problems(definition: TraitDefinition, names: PiiNames) -> list[tuple[str, str]]:
    """(path, message) for a PII property aggregated, or compared other than by ``exists``."""
    kind = definition.event.type
    problems: list[tuple[str, str]] = []
    if definition.prop is not None:
        settings = [names.property_setting(p, kind) for p in definition.path]
        setting = next((s for s in settings if s is not None), None)
        if setting is not None:
            problems.append(
                (
                    f"{definition.name}.property",
                    f"property {definition.prop!r} is PII ({setting}) and encrypted at rest: "
                    "a computed trait cannot aggregate it",
                )
            )
    for i, where in enumerate(definition.event.where):
        setting = names.property_setting(where.property, kind)
        if where.op != "exists" and setting is not None:
            problems.append(
                (
                    f"{definition.name}.event.where[{i}].op",
                    f"property {where.property!r} is PII ({setting}) and encrypted at "
                    f"rest: it can only be tested with exists, not {where.op}",
                )
            )
    return problems


def check_pii_traits(definitions: Iterable[TraitDefinition], names: PiiNames) -> None:
    """Raise `TraitDefinitionError` naming every problem `pii_problems` finds."""
    problems = [p for d in definitions for p in pii_problems(d, names)]
    if problems:
        raise TraitDefinitionError(problems)
