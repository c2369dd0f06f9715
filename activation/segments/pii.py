"""Segments and PII at rest: a condition can test a PII trait only with ``exists``.

PII-named traits (`Settings.pii_traits`, whatever their spelling) are stored sealed in profile
traits, group traits and event properties (`cdp.privacy.atrest`): each sealed value is its own
ciphertext, so SQL can tell whether one is there but not compare, order or search it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

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

__all__ = ["check_pii_conditions", "pii_problems"]


def pii_problems(
    definition: SegmentDefinition, is_pii_name: Callable[[str], bool], at: str = ""
) -> list[tuple[str, str]]:
    """(path, message) for every condition comparing a PII trait or property other than by
    ``exists``."""
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
            _check(problems, f"{path}.trait", "trait", node.trait.name, node.trait.op, is_pii_name)
        elif isinstance(node, GroupLeaf):
            group = node.group
            _check(problems, f"{path}.group", "group trait", group.name, group.op, is_pii_name)
        elif isinstance(node, EventLeaf):
            for i, where in enumerate(node.event.where):
                where_path = f"{path}.event.where[{i}]"
                _check(problems, where_path, "property", where.property, where.op, is_pii_name)
    return sorted(problems)


def check_pii_conditions(
    definitions: Iterable[SegmentDefinition], is_pii_name: Callable[[str], bool]
) -> None:
    """Raise `SegmentDefinitionError` naming every PII condition other than ``exists``."""
    problems: list[tuple[str, str]] = []
    for definition in definitions:
        problems += pii_problems(definition, is_pii_name, definition.slug)
    if problems:
        raise SegmentDefinitionError(problems)


def _check(
    problems: list[tuple[str, str]],
    path: str,
    what: str,
    name: str,
    op: str,
    is_pii_name: Callable[[str], bool],
) -> None:
    if op != "exists" and is_pii_name(name):
        problems.append(
            (
                f"{path}.op",
                f"{what} {name!r} is PII (CDP_PII_TRAITS) and encrypted at rest: it can only be "
                f"tested with exists, not {op}",
            )
        )


def _join(at: str, key: str) -> str:
    return f"{at}.{key}" if at else key
