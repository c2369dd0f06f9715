"""Deciding which profile an event belongs to, after Segment Unify's identity resolution.

`resolve` is pure: it reads the identity graph through `IdentityGraph` and returns a
`Resolution` the caller carries out (create, merge, attach). The caller holds the graph locked,
so nothing moves while a resolution is computed.

The algorithm, for an event's identifiers sorted highest priority first:

1. Find the profiles holding any of them. None: a new profile gets them all. One or more: the
   oldest is the survivor, the others merge into it, the event's new identifiers attach to it.
2. The outcome must respect the limits: per type (`IdentityRules.limit`), identifiers in all
   (`max_identifiers_per_profile`), and merges a profile has absorbed
   (`max_merges_per_profile`). While it does not, drop the event's lowest-priority identifier
   (ties: the last in sort order) and go back to 1. With the default user_id limit of 1, this
   is what keeps two known users apart: an event that would join them loses identifiers until
   it no longer does.
3. Restore pass (not in Unify): dropping strictly from the bottom can drop an identifier that
   was never in the way, such as a new device id or the cookie of an anonymous profile that an
   identifier above it conflicted with. So each dropped identifier, highest priority first, is
   tried again on top of what was kept and restored if the outcome still respects every limit.
   The result keeps every identifier that fits alongside the higher-priority ones.

A profile that already breaks a limit (the limit was lowered after it filled up) is not made to
shed anything: a count is a violation only when it exceeds both the limit and what the most
loaded matched profile already holds, so such a profile keeps receiving its events but can grow
no further in that type. With a consistent graph and limits of at least 1, this also means a
single identifier always fits, so an event never loses all of its identifiers; `resolve` still
handles that case (see its docstring) in case the graph it is given is inconsistent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence, Set
from operator import itemgetter

from cdp.identity.extract import sort_key
from cdp.identity.model import Identifier, IdentityGraph, Resolution
from cdp.identity.rules import IdentityRules

__all__ = ["resolve"]

#: An identifier's type, read in C (an `Identifier` is a tuple of type and value).
_TYPE = itemgetter(0)


def resolve(
    identifiers: Sequence[Identifier], graph: IdentityGraph, rules: IdentityRules
) -> Resolution:
    """Which profile the event with `identifiers` belongs to, and what changes in the graph.

    `identifiers` are normalised (as `extract_identifiers` returns them); duplicates are
    ignored and they are re-sorted by priority, so any order works.

    The returned `Resolution`:

    - No identifiers: ``profile_id=None`` and nothing else; the caller decides (events always
      carry a userId or anonymousId, so this means they were all junk).
    - No profile holds any kept identifier: ``profile_id=None``, `attach` the kept identifiers;
      the caller creates the profile.
    - Otherwise `profile_id` is the oldest matched profile (smallest `graph.created_order`),
      `merged` the other matched profiles in id order, `attach` the kept identifiers no matched
      profile holds yet, in priority order.
    - `dropped` are the identifiers left out to respect a limit, in priority order; they stay
      with whoever holds them. ``reasons[i]`` explains ``dropped[i]``; when profiles merge, one
      more reason at the end says which identifier types linked them. Reasons name types, never
      values: they are stored with merges and published, and identifier values are personal data.
    - If every identifier had to be dropped (only possible when the graph contradicts itself,
      see the module docstring), `attach` is empty, `dropped` lists them all and `profile_id`
      is the profile holding the highest-priority identifier. Every identifier is held in that
      case (one nobody holds always fits a new profile on its own), so the event lands on an
      existing profile rather than on a new one without any identifier.
    """
    key = sort_key(rules)
    original = sorted(set(identifiers), key=key)
    if not original:
        return Resolution(profile_id=None)
    owner = {i: graph.profile_of(i) for i in original}
    matched = {p for p in owner.values() if p is not None}
    if len(matched) <= 1:
        whole = _whole(original, owner, matched, graph, rules)
        if whole is not None:
            return whole
    return _decide(original, owner, graph, rules)


def _decide(
    original: list[Identifier],
    owner: dict[Identifier, int | None],
    graph: IdentityGraph,
    rules: IdentityRules,
) -> Resolution:
    """The full algorithm (see the module docstring) for the event's identifiers `original`,
    sorted and without duplicates, held as `owner` says."""
    key = sort_key(rules)
    check = _Checker(graph, rules, owner)
    kept = list(original)
    while kept and check.violations(kept):
        kept.pop()  # the lowest priority, and among equals the last in sort order
    dropped: list[Identifier] = []
    reasons: list[str] = []
    for identifier in original:
        if identifier in kept:
            continue
        trial = sorted([*kept, identifier], key=key)
        problems = check.violations(trial)
        if problems:
            dropped.append(identifier)
            reasons.append(f"{identifier.type} dropped: {', '.join(problems)}")
        else:
            kept = trial

    if not kept:
        fallback = next((p for i in original if (p := check.owner[i]) is not None), None)
        return Resolution(fallback, dropped=tuple(dropped), reasons=tuple(reasons))
    matched = check.matched(kept)
    attach = tuple(i for i in kept if check.owner[i] is None)
    if not matched:
        return Resolution(None, attach=attach, dropped=tuple(dropped), reasons=tuple(reasons))
    survivor = min(matched, key=graph.created_order)
    merged = tuple(sorted(matched - {survivor}))
    if merged:
        links = sorted({i.type for i in kept if check.owner[i] is not None})
        reasons.append(f"the event links {len(merged) + 1} profiles by {', '.join(links)}")
    return Resolution(
        survivor, attach=attach, merged=merged, dropped=tuple(dropped), reasons=tuple(reasons)
    )


def _whole(
    original: list[Identifier],
    owner: dict[Identifier, int | None],
    matched: set[int],
    graph: IdentityGraph,
    rules: IdentityRules,
) -> Resolution | None:
    """The resolution keeping every identifier when at most one profile holds any of them and
    that breaks no limit, else None (then the full algorithm decides).

    This is what the full algorithm returns in that case, reached without its trial sets: with
    one profile (or none) nothing merges, and a limit can only be broken by identifiers the
    profile does not hold yet. It is the common case (an event of a known visitor), so it is
    the one worth a shortcut.
    """
    profile = next(iter(matched)) if matched else None
    held = graph.identifiers_of(profile) if profile is not None else frozenset()
    new = [i for i in original if i not in held]
    if new:
        cap = rules.max_identifiers_per_profile
        if len(held) + len(new) > max(cap, len(held)):
            return None
        types = [i.type for i in new]
        for id_type in set(types):
            already = sum(1 for i in held if i.type == id_type) if held else 0
            if already + types.count(id_type) > max(rules.limit(id_type), already):
                return None
    if None not in owner.values():
        return Resolution(profile)
    return Resolution(profile, attach=tuple([i for i in original if owner[i] is None]))


class _Checker:
    """Evaluates candidate sets of an event's identifiers against the limits."""

    def __init__(
        self, graph: IdentityGraph, rules: IdentityRules, owner: dict[Identifier, int | None]
    ) -> None:
        self.graph = graph
        self.rules = rules
        self.owner = owner
        self._held: dict[int, Set[Identifier]] = {}
        self._counts: dict[int, Counter[str]] = {}

    def matched(self, kept: Iterable[Identifier]) -> set[int]:
        """The profiles holding any of `kept`."""
        return {p for i in kept if (p := self.owner[i]) is not None}

    def _held_by(self, profile_id: int) -> Set[Identifier]:
        if profile_id not in self._held:
            held = self.graph.identifiers_of(profile_id)
            self._held[profile_id] = held
            self._counts[profile_id] = Counter(map(_TYPE, held))
        return self._held[profile_id]

    def violations(self, kept: Sequence[Identifier]) -> list[str]:
        """What resolving with exactly `kept` would break; empty when it is allowed."""
        matched = self.matched(kept)
        union: set[Identifier] = set(kept)
        for profile_id in matched:
            union |= self._held_by(profile_id)
        counts = Counter(map(_TYPE, union))
        limit = self.rules.limit
        breaking = [
            id_type
            for id_type, count in counts.items()
            if count > limit(id_type)
            and count > max((self._counts[p][id_type] for p in matched), default=0)
        ]
        problems = [
            f"the profile would hold {counts[id_type]} {id_type} (limit {limit(id_type)})"
            for id_type in sorted(breaking, key=lambda t: (self.rules.priority(t), t))
        ]
        cap = self.rules.max_identifiers_per_profile
        already = max((len(self._held[p]) for p in matched), default=0)
        if len(union) > max(cap, already):
            problems.append(f"the profile would hold {len(union)} identifiers (cap {cap})")
        if len(matched) > 1:
            merges = len(matched) - 1 + sum(self.graph.merge_count(p) for p in matched)
            cap = self.rules.max_merges_per_profile
            if merges > cap:
                problems.append(f"the profile would have absorbed {merges} merges (cap {cap})")
        return problems
