"""The slice of the store one batch works on, held in memory while its rows are locked.

It implements `IdentityGraph` for the resolver and applies each resolution: new profiles get
temporary negative ids until the batch is written, merges move identifiers, traits and computed
traits to the survivor at once, so later events of the same batch see the merged profile.
"""

from __future__ import annotations

import itertools
from collections.abc import Set
from dataclasses import dataclass, field
from typing import Any

from cdp.identity import Identifier, Resolution
from cdp.profiles.fold import combine_computed, combine_traits

__all__ = ["BatchState", "IdentifierRow", "MergeRecord", "ProfileState"]

#: Sorts after every real creation time, so a profile made in this batch is never the oldest.
NEW_PROFILE_ORDER = 2**62


@dataclass(slots=True)
class ProfileState:
    id: int
    traits: dict[str, Any]
    trait_times: dict[str, int]
    computed: dict[str, Any]
    merge_count: int
    created_ms: int
    identifiers: set[Identifier] = field(default_factory=set)
    is_new: bool = False
    dirty: bool = False
    merged_into: int | None = None
    changed_traits: set[str] = field(default_factory=set)
    identifiers_added: bool = False
    consent_decided: bool = False
    stored_traits: dict[str, Any] | None = None
    """The traits as stored (PII values sealed, `cdp.profiles.pii`): as loaded when they held
    sealed values, as written once the batch sealed them; None when stored in clear."""


@dataclass(slots=True)
class IdentifierRow:
    """An identifier and the times it was first and last seen (epoch ms)."""

    profile_id: int
    first_seen: int
    last_seen: int
    dirty: bool = False
    new: bool = False
    """Made by this batch (so its row gets the sealed value of the identifier)."""


@dataclass(frozen=True)
class MergeRecord:
    from_profile: int
    into_profile: int
    reason: str
    message_id: str | None


class BatchState:
    """Profiles and identifiers loaded for one batch, plus what the batch did to them."""

    def __init__(self) -> None:
        self.profiles: dict[int, ProfileState] = {}
        self.identifiers: dict[Identifier, IdentifierRow] = {}
        self.merges: list[MergeRecord] = []
        self._temp_ids = itertools.count(-1, -1)
        self._absorbed: dict[int, list[int]] = {}
        """Profile id → the profiles of this batch whose `merged_into` is that id."""

    def add_loaded_profile(self, profile: ProfileState) -> None:
        self.profiles[profile.id] = profile

    def add_loaded_identifier(self, identifier: Identifier, row: IdentifierRow) -> None:
        self.identifiers[identifier] = row
        owner = self.profiles.get(row.profile_id)
        if owner is not None:
            owner.identifiers.add(identifier)

    def profile_of(self, identifier: Identifier) -> int | None:
        row = self.identifiers.get(identifier)
        return row.profile_id if row else None

    def identifiers_of(self, profile_id: int) -> Set[Identifier]:
        return self.profiles[profile_id].identifiers

    def merge_count(self, profile_id: int) -> int:
        return self.profiles[profile_id].merge_count

    def created_order(self, profile_id: int) -> tuple[int, int]:
        profile = self.profiles[profile_id]
        if profile.is_new:
            return (NEW_PROFILE_ORDER, -profile.id)
        return (profile.created_ms, profile.id)

    def apply(self, resolution: Resolution, at: int, message_id: str | None) -> ProfileState:
        """Carry out `resolution` for an event seen at `at`; the event's profile."""
        if resolution.profile_id is None:
            profile = self._create(at)
        else:
            profile = self.profiles[resolution.profile_id]
        for loser_id in resolution.merged:
            self._merge(
                self.profiles[loser_id],
                profile,
                resolution.reasons[-1] if resolution.reasons else "shared identifier",
                message_id,
            )
        for identifier in resolution.attach:
            self._attach(identifier, profile, at)
        return profile

    def sole_holder(self, identifiers: list[Identifier]) -> ProfileState | None:
        """The profile holding every one of `identifiers`, if one does (else None, and for none).

        Such an event belongs to that profile and changes nothing in the graph: it is what
        `resolve` returns for it (one matched profile, nothing new to attach, so no limit can
        break), found without sorting or checking anything. Most events of known visitors
        are like that, so the processor asks this first.
        """
        if not identifiers:
            return None
        rows = self.identifiers
        row = rows.get(identifiers[0])
        if row is None:
            return None
        holder = row.profile_id
        for identifier in identifiers[1:]:
            row = rows.get(identifier)
            if row is None or row.profile_id != holder:
                return None
        profile = self.profiles[holder]
        return profile if profile.merged_into is None else None

    def touch(self, identifiers: list[Identifier], profile: ProfileState, at: int) -> None:
        """Record that the event's identifiers held by `profile` were seen at `at`."""
        for identifier in identifiers:
            row = self.identifiers.get(identifier)
            if (
                row is not None
                and row.profile_id == profile.id
                and not row.first_seen <= at <= row.last_seen
            ):
                row.last_seen = max(row.last_seen, at)
                row.first_seen = min(row.first_seen, at)
                row.dirty = True

    def _create(self, at: int) -> ProfileState:
        profile = ProfileState(next(self._temp_ids), {}, {}, {}, 0, at, is_new=True, dirty=True)
        self.profiles[profile.id] = profile
        return profile

    def _attach(self, identifier: Identifier, profile: ProfileState, at: int) -> None:
        self.identifiers[identifier] = IdentifierRow(profile.id, at, at, dirty=True, new=True)
        profile.identifiers.add(identifier)
        profile.identifiers_added = True
        profile.dirty = True

    def _merge(
        self, loser: ProfileState, survivor: ProfileState, reason: str, message_id: str | None
    ) -> None:
        for identifier in loser.identifiers:
            row = self.identifiers[identifier]
            row.profile_id = survivor.id
            row.dirty = True
        survivor.identifiers |= loser.identifiers
        loser.identifiers = set()
        before = dict(survivor.traits)
        combine_traits(survivor.traits, survivor.trait_times, loser.traits, loser.trait_times)
        survivor.changed_traits |= {
            k for k in set(before) | set(survivor.traits) if before.get(k) != survivor.traits.get(k)
        }
        combine_computed(survivor.computed, loser.computed)
        survivor.merge_count += loser.merge_count + 1
        survivor.dirty = True
        loser.merged_into = survivor.id
        loser.dirty = True
        absorbed = self._absorbed.setdefault(survivor.id, [])
        for earlier in self._absorbed.pop(loser.id, ()):
            self.profiles[earlier].merged_into = survivor.id
            absorbed.append(earlier)
        absorbed.append(loser.id)
        self.merges.append(MergeRecord(loser.id, survivor.id, reason, message_id))

    def final_id(self, profile_id: int) -> int:
        """The profile `profile_id` ended up in, following merges made in this batch."""
        seen = 0
        while (nxt := self.profiles[profile_id].merged_into) is not None and seen < len(
            self.profiles
        ):
            profile_id = nxt
            seen += 1
        return profile_id
