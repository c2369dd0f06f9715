"""A bounded memo of recently used values that keeps its hit rate when the working set is
larger than one generation."""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = ["Recent"]

K = TypeVar("K")
V = TypeVar("V")


class Recent(Generic[K, V]):
    """Up to two generations of `generation` entries each: when the current one fills, it
    becomes the previous one (the older one is dropped) and a hit in the previous one is
    copied into the current one. A cache cleared when full loses everything at once, so a
    working set a little larger than it hits well under half the time; here a working set
    up to about `generation` hits nearly always, at most twice that in memory."""

    __slots__ = ("_current", "_generation", "_previous")

    def __init__(self, generation: int) -> None:
        self._generation = generation
        self._current: dict[K, V] = {}
        self._previous: dict[K, V] = {}

    def __len__(self) -> int:
        return len(self._current) + len(self._previous)

    @property
    def current(self) -> dict[K, V]:
        """The current generation, for a hot loop to try with `dict.get` before `get` (a
        miss there may still be a hit in the previous generation). Read it, never write it."""
        return self._current

    def get(self, key: K) -> V | None:
        """The value remembered for `key`, or None."""
        found = self._current.get(key)
        if found is None:
            found = self._previous.get(key)
            if found is not None:
                self.put(key, found)
        return found

    def put(self, key: K, value: V) -> None:
        """Remember `value` for `key`."""
        if len(self._current) >= self._generation:
            self._previous = self._current
            self._current = {}
        self._current[key] = value
