"""Computed traits and PII at rest: a trait cannot aggregate a PII property.

The timeline stores the value under every PII-named key sealed (`cdp.privacy.atrest`), each
sealed value its own ciphertext, so SQL over it would count, compare or keep ciphertext: a
"most frequent email" would be a random sealed string and a distinct count the number of
events. Such a definition is refused when it is applied (rather than sealing its result),
like a segment condition on a PII trait other than ``exists``.
"""

from __future__ import annotations

from collections.abc import Iterable

from cdp.privacy.names import normal_name
from cdp.profiles.computed.errors import TraitDefinitionError
from cdp.profiles.computed.model import TraitDefinition

__all__ = ["check_pii_traits", "pii_problems"]


def pii_problems(definition: TraitDefinition, pii_traits: Iterable[str]) -> list[tuple[str, str]]:
    """(path, message) for a PII property aggregated, or compared other than by ``exists``."""
    names = {normal_name(n) for n in pii_traits}
    problems: list[tuple[str, str]] = []
    if definition.prop is not None and any(normal_name(p) in names for p in definition.path):
        problems.append(
            (
                f"{definition.name}.property",
                f"property {definition.prop!r} is PII (CDP_PII_TRAITS) and encrypted at rest: "
                "a computed trait cannot aggregate it",
            )
        )
    for i, where in enumerate(definition.event.where):
        if where.op != "exists" and normal_name(where.property) in names:
            problems.append(
                (
                    f"{definition.name}.event.where[{i}].op",
                    f"property {where.property!r} is PII (CDP_PII_TRAITS) and encrypted at "
                    f"rest: it can only be tested with exists, not {where.op}",
                )
            )
    return problems


def check_pii_traits(definitions: Iterable[TraitDefinition], pii_traits: Iterable[str]) -> None:
    """Raise `TraitDefinitionError` naming every problem `pii_problems` finds."""
    names = list(pii_traits)
    problems = [p for d in definitions for p in pii_problems(d, names)]
    if problems:
        raise TraitDefinitionError(problems)
