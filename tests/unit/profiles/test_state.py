"""`BatchState.sole_holder`, the processor's shortcut past `resolve`, gives the profile `resolve`
would give and leaves the graph as resolving would: the same workload folded with and without it
ends in identical profiles, identifiers and merges."""

from __future__ import annotations

from typing import Any

from cdp.bench.synthetic import generate
from cdp.identity import IdentityRules, extract_identifiers, resolve
from cdp.ingest.validate import BatchContext, validate_batch
from cdp.profiles.apply import _fold_event
from cdp.profiles.events import InEvent, to_in_event
from cdp.profiles.state import BatchState, IdentifierRow, ProfileState
from cdp.settings import Limits

RULES = [IdentityRules(), IdentityRules(limits={"anonymous_id": 2, "email": 1})]


def events(persons: int, count: int) -> list[InEvent]:
    workload = generate(persons, count, seed=3)
    out = []
    for n, (message, at) in enumerate(zip(workload.messages, workload.times, strict=True)):
        oks, errs = validate_batch([message], BatchContext("src", at, Limits()))
        assert not errs
        record: dict[str, Any] = dict(oks[0].envelope)
        out.append(to_in_event(record, 0, n))
    return out


def fold(batch: list[InEvent], rules: IdentityRules, shortcut: bool) -> BatchState:
    state = BatchState()
    for event in batch:
        ids = extract_identifiers(event.as_identity_input(), rules)
        profile = state.sole_holder(ids) if shortcut else None
        if profile is None:
            profile = state.apply(resolve(ids, state, rules), event.at, event.message_id)
        state.touch(ids, profile, event.at)
        _fold_event(profile, event)
    return state


def snapshot(state: BatchState) -> Any:
    return (
        {
            p.id: (p.traits, p.trait_times, p.computed, p.merge_count, p.merged_into, p.identifiers)
            for p in state.profiles.values()
        },
        {i: (r.profile_id, r.first_seen, r.last_seen) for i, r in state.identifiers.items()},
        state.merges,
    )


def test_the_shortcut_changes_nothing() -> None:
    batch = events(150, 3000)
    for rules in RULES:
        with_shortcut = fold(batch, rules, shortcut=True)
        assert with_shortcut.merges, "the workload should merge profiles"
        assert snapshot(with_shortcut) == snapshot(fold(batch, rules, shortcut=False))


def test_the_sole_holder_holds_every_identifier() -> None:
    state = BatchState()
    a, b = ProfileState(1, {}, {}, {}, 0, 10), ProfileState(2, {}, {}, {}, 0, 20)
    state.add_loaded_profile(a)
    state.add_loaded_profile(b)
    x, y, z = (extract_identifiers({"user_id": v}, IdentityRules())[0] for v in "xyz")
    state.add_loaded_identifier(x, IdentifierRow(1, 0, 0))
    state.add_loaded_identifier(y, IdentifierRow(1, 0, 0))
    state.add_loaded_identifier(z, IdentifierRow(2, 0, 0))
    assert state.sole_holder([x, y]) is a
    assert state.sole_holder([z]) is b
    assert state.sole_holder([x, z]) is None
    assert state.sole_holder([]) is None
    unknown = extract_identifiers({"user_id": "w"}, IdentityRules())
    assert state.sole_holder([x, *unknown]) is None
