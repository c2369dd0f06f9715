"""The vocabulary of identity resolution: identifiers, the graph it reads, and its decisions."""

from __future__ import annotations

from collections.abc import Set
from typing import NamedTuple, Protocol

__all__ = ["Identifier", "IdentityGraph", "Resolution"]


class Identifier(NamedTuple):
    """A normalised identifier: `type` is user_id, anonymous_id, email, phone or a custom name.

    A named tuple, immutable and ordered by (type, value): identifiers are the keys of every
    dict and set of identity resolution, and a tuple hashes and compares in C (a frozen
    dataclass does it in Python, several times slower on the processor's hot path).
    """

    type: str
    value: str

    def __str__(self) -> str:
        return f"{self.type}:{self.value}"


class IdentityGraph(Protocol):
    """The part of the identity graph a resolution may read (the processor holds it locked)."""

    def profile_of(self, identifier: Identifier) -> int | None:
        """The profile holding `identifier`, or None."""
        ...

    def identifiers_of(self, profile_id: int) -> Set[Identifier]:
        """Every identifier `profile_id` holds; read only, and only until the graph changes."""
        ...

    def merge_count(self, profile_id: int) -> int:
        """How many profiles have been merged into `profile_id` so far."""
        ...

    def created_order(self, profile_id: int) -> tuple[int, int]:
        """A sort key for age: the oldest profile has the smallest key (created time ms, id)."""
        ...


class Resolution(NamedTuple):
    """What to do with one event's identifiers (immutable; a named tuple, as one is made per
    event and a tuple is made in a third of the time of a frozen dataclass).

    `profile_id` is the profile the event belongs to, or None when a new profile must be created.
    `merged` lists the profiles to merge into `profile_id` (never contains it). `attach` lists the
    event's identifiers the resulting profile does not hold yet. `dropped` lists identifiers left
    out because keeping them would break a limit or a guard; they stay with whoever holds them.
    `reasons` says why, for people reading merge records and logs: ``reasons[i]`` explains
    ``dropped[i]`` and, when `merged` is not empty, one last entry says which identifiers
    linked the merged profiles.
    """

    profile_id: int | None
    attach: tuple[Identifier, ...] = ()
    merged: tuple[int, ...] = ()
    dropped: tuple[Identifier, ...] = ()
    reasons: tuple[str, ...] = ()
