"""Segments and PII at rest: a condition can test a PII trait or property only with ``exists``.

PII-named traits (`Settings.pii_traits`, whatever their spelling) are stored sealed in profile
traits, group traits and the traits of identify and group events; PII-named event properties
(`Settings.pii_property_names`: the trait names without ``name`` by default, as an event's
``name`` is a product's) are stored sealed in the properties of other events
(`cdp.privacy.atrest`): each sealed value is its own ciphertext, so SQL can tell whether one is
there but not compare, order or search it.
"""

from __future__ import annotations

from collections.abc import Iterable

from cdp.activation.segments.errors import SegmentDefinitionError
from cdp.activation.segments.model import (
    All,
    AnyOf,
    Condition,
    EventLeaf,
    GroupLeaf,
    Not,
    SegmentDefinition,
    TraitLeaf,
)
from cdp.privacy.names import TRAITS_SETTING, PiiNames

__all__ = ["check_pii_conditions", "pii_problems"]


def pii_problems(
    definition: SegmentDefinition, names: PiiNames, at: str = ""
) -> list[tuple[str, str]]:
    """(path, message) for every condition comparing a PII trait or property other than by
    ``exists``. An event condition's properties are judged by its event type (any type when
    it has none: identify and group events store their traits as properties)."""
    problems: list[tuple[str, str]] = []
    stack: list[tuple[Condition, str]] = [(definition.condition, _join(at, "condition"))]
    while stack:
        node, path = stack.pop()
        if isinstance(node, All | AnyOf):
            key = "all" if isinstance(node, All) else "any"
            stack.extend((c, f"{path}.{key}[{i}]") for i, c in enumerate(node.conditions))
        elif isinstance(node, Not):
            stack.append((node.condition, f"{path}.not"))
        elif isinstance(node, TraitLeaf):
            trait = node.trait
            setting = TRAITS_SETTING if names.trait(trait.name) else None
            _check(problems, f"{path}.trait", "trait", trait.name, trait.op, setting)
        elif isinstance(node, GroupLeaf):
            group = node.group
            setting = TRAITS_SETTING if names.trait(group.name) else None
            _check(problems, f"{path}.group", "group trait", group.name, group.op, setting)
        elif isinstance(node, EventLeaf):
            for i, where in enumerate(node.event.where):
                setting = names.property_setting(where.property, node.event.type)
                where_path = f"{path}.event.where[{i}]"
                _check(problems, where_path, "property", where.property, where.op, setting)
    return sorted(problems)


def check_pii_conditions(definitions: Iterable[SegmentDefinition], names: PiiNames) -> None:
    """Raise `SegmentDefinitionError` naming every PII condition other than ``exists``."""
    problems: list[tuple[str, str]] = []
    for definition in definitions:
        problems += pii_problems(definition, names, definition.slug)
    if problems:
        raise SegmentDefinitionError(problems)


def _check(
    problems: list[tuple[str, str]],
    path: str,
    what: str,
    name: str,
    op: str,
    setting: str | None,
) -> None:
    """Record a problem when `name` is PII (`setting` names the setting that says so) and
    `op` is not ``exists``."""
    if op != "exists" and setting is not None:
        problems.append(
            (
                f"{path}.op",
                f"{what} {name!r} is PII ({setting}) and encrypted at rest: it can only be "
                f"tested with exists, not {op}",
            )
        )


def _join(at: str, key: str) -> str:
    return f"{at}.{key}" if at else key
