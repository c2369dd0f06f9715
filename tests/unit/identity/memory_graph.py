"""An in-memory identity graph for the resolver's tests, and the caller's side of a resolution."""

from __future__ import annotations

from collections.abc import Iterable

from cdp.identity import Identifier, Resolution


def ids(*texts: str) -> list[Identifier]:
    """Identifiers from ``"type:value"`` texts."""
    out = []
    for text in texts:
        id_type, _, value = text.partition(":")
        out.append(Identifier(id_type, value))
    return out


class MemoryGraph:
    """Profiles as sets of identifiers; ids and creation order count up from 1."""

    def __init__(self) -> None:
        self.owner: dict[Identifier, int] = {}
        self.held: dict[int, set[Identifier]] = {}
        self.merges: dict[int, int] = {}
        self.created: dict[int, int] = {}
        self._next = 1

    # IdentityGraph
    def profile_of(self, identifier: Identifier) -> int | None:
        return self.owner.get(identifier)

    def identifiers_of(self, profile_id: int) -> frozenset[Identifier]:
        return frozenset(self.held[profile_id])

    def merge_count(self, profile_id: int) -> int:
        return self.merges[profile_id]

    def created_order(self, profile_id: int) -> tuple[int, int]:
        return (self.created[profile_id], profile_id)

    # building and applying
    def add(self, *texts: str, merges: int = 0, created: int | None = None) -> int:
        """A new profile holding `texts` (``"type:value"``), created now unless told."""
        profile_id = self._next
        self._next += 1
        self.held[profile_id] = set()
        self.merges[profile_id] = merges
        self.created[profile_id] = profile_id * 1000 if created is None else created
        self._attach(profile_id, ids(*texts))
        return profile_id

    def apply(self, resolution: Resolution) -> int:
        """Carry out `resolution` as the processor would; the event's profile."""
        if resolution.profile_id is None:
            assert not resolution.merged
            profile_id = self.add()
        else:
            profile_id = resolution.profile_id
        assert profile_id in self.held
        for loser in resolution.merged:
            assert loser != profile_id
            assert loser in self.held
            for identifier in self.held.pop(loser):
                self.owner[identifier] = profile_id
                self.held[profile_id].add(identifier)
            self.merges[profile_id] += 1 + self.merges.pop(loser)
            del self.created[loser]
        self._attach(profile_id, resolution.attach)
        return profile_id

    def _attach(self, profile_id: int, identifiers: Iterable[Identifier]) -> None:
        for identifier in identifiers:
            assert identifier not in self.owner, f"{identifier} is already held"
            self.owner[identifier] = profile_id
            self.held[profile_id].add(identifier)

    def texts(self, profile_id: int) -> set[str]:
        return {str(i) for i in self.held[profile_id]}
