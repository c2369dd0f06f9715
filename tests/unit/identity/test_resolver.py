from __future__ import annotations

import pytest

from cdp.identity import (
    Identifier,
    IdentityGraph,
    IdentityRules,
    Resolution,
    extract_identifiers,
    resolve,
)
from tests.unit.identity.memory_graph import MemoryGraph, ids

RULES = IdentityRules()


def run(graph: MemoryGraph, *texts: str, rules: IdentityRules = RULES) -> Resolution:
    return resolve(ids(*texts), graph, rules)


def test_the_memory_graph_is_an_identity_graph() -> None:
    graph: IdentityGraph = MemoryGraph()
    assert graph.profile_of(Identifier("user_id", "u")) is None


def test_no_identifiers_leaves_the_decision_to_the_caller() -> None:
    assert resolve([], MemoryGraph(), RULES) == Resolution(profile_id=None)


def test_unknown_identifiers_make_a_new_profile_holding_all_of_them() -> None:
    resolution = run(MemoryGraph(), "user_id:u", "email:u@x.io", "anonymous_id:a")
    assert resolution == Resolution(
        None, attach=tuple(ids("user_id:u", "email:u@x.io", "anonymous_id:a"))
    )


def test_identifiers_are_deduplicated_and_sorted_whatever_the_input_order() -> None:
    resolution = run(MemoryGraph(), "anonymous_id:a", "user_id:u", "anonymous_id:a", "email:u@x.io")
    assert resolution.attach == tuple(ids("user_id:u", "email:u@x.io", "anonymous_id:a"))


def test_anonymous_browsing_then_login_attaches_the_user_id() -> None:
    graph = MemoryGraph()
    anonymous = graph.apply(run(graph, "anonymous_id:x"))
    resolution = run(graph, "user_id:u", "anonymous_id:x")
    assert resolution == Resolution(anonymous, attach=tuple(ids("user_id:u")))
    graph.apply(resolution)
    assert graph.texts(anonymous) == {"user_id:u", "anonymous_id:x"}


def test_a_second_device_attaches_its_anonymous_id_to_the_users_profile() -> None:
    graph = MemoryGraph()
    user = graph.add("user_id:u", "anonymous_id:x")
    resolution = run(graph, "user_id:u", "anonymous_id:y")
    assert resolution == Resolution(user, attach=tuple(ids("anonymous_id:y")))


def test_a_second_device_with_its_own_anonymous_profile_merges_into_the_older() -> None:
    graph = MemoryGraph()
    user = graph.add("user_id:u", "anonymous_id:x")
    device = graph.add("anonymous_id:y")
    resolution = run(graph, "user_id:u", "anonymous_id:y")
    assert resolution.profile_id == user
    assert resolution.merged == (device,)
    assert resolution.attach == ()
    assert resolution.dropped == ()
    assert resolution.reasons == ("the event links 2 profiles by anonymous_id, user_id",)
    graph.apply(resolution)
    assert graph.texts(user) == {"user_id:u", "anonymous_id:x", "anonymous_id:y"}
    assert graph.merge_count(user) == 1


def test_the_oldest_profile_survives_even_when_a_younger_one_holds_the_user_id() -> None:
    graph = MemoryGraph()
    device = graph.add("anonymous_id:y")
    user = graph.add("user_id:u")
    resolution = run(graph, "user_id:u", "anonymous_id:y")
    assert (resolution.profile_id, resolution.merged) == (device, (user,))


def test_age_comes_from_created_order_not_from_the_id() -> None:
    graph = MemoryGraph()
    young = graph.add("anonymous_id:a", created=5_000)
    old = graph.add("anonymous_id:b", created=1_000)
    resolution = run(graph, "anonymous_id:a", "anonymous_id:b")
    assert (resolution.profile_id, resolution.merged) == (old, (young,))


def test_several_profiles_merge_into_the_oldest_and_the_rest_are_sorted() -> None:
    graph = MemoryGraph()
    third = graph.add("email:e@x.io", created=3_000)
    first = graph.add("anonymous_id:a", created=1_000)
    second = graph.add("phone:+14155552671", created=2_000)
    resolution = run(graph, "user_id:u", "email:e@x.io", "phone:+14155552671", "anonymous_id:a")
    assert resolution.profile_id == first
    assert resolution.merged == tuple(sorted((second, third)))
    assert resolution.attach == tuple(ids("user_id:u"))


def test_logout_and_another_user_on_the_same_device_do_not_merge() -> None:
    graph = MemoryGraph()
    first_user = graph.add("user_id:a", "anonymous_id:x")
    resolution = run(graph, "user_id:b", "anonymous_id:x")
    assert resolution.profile_id is None
    assert resolution.attach == tuple(ids("user_id:b"))
    assert resolution.merged == ()
    assert resolution.dropped == tuple(ids("anonymous_id:x"))
    assert resolution.reasons == (
        "anonymous_id dropped: the profile would hold 2 user_id (limit 1)",
    )
    second_user = graph.apply(resolution)
    assert graph.texts(first_user) == {"user_id:a", "anonymous_id:x"}
    assert graph.texts(second_user) == {"user_id:b"}
    # the shared device keeps pointing at the first user; the second user's events still land
    # on their own profile by user id
    assert run(graph, "user_id:b", "anonymous_id:x").profile_id == second_user


def test_a_new_identifier_that_was_not_in_the_way_is_kept_after_a_conflict() -> None:
    graph = MemoryGraph()
    graph.add("user_id:a", "anonymous_id:x")
    rules = IdentityRules(custom_paths={"device_id": "context.device.id"})
    resolution = run(graph, "user_id:b", "anonymous_id:x", "device_id:d", rules=rules)
    assert resolution.profile_id is None
    assert resolution.attach == tuple(ids("user_id:b", "device_id:d"))
    assert resolution.dropped == tuple(ids("anonymous_id:x"))


def test_login_keeps_the_anonymous_history_when_only_the_email_conflicts() -> None:
    graph = MemoryGraph()
    other = graph.add("user_id:u1", "email:shared@x.io")
    anonymous = graph.add("anonymous_id:x")
    resolution = run(graph, "user_id:u2", "email:shared@x.io", "anonymous_id:x")
    assert resolution.profile_id == anonymous
    assert resolution.attach == tuple(ids("user_id:u2"))
    assert resolution.merged == ()
    assert resolution.dropped == tuple(ids("email:shared@x.io"))
    assert other not in resolution.merged


def test_an_email_change_attaches_the_new_email() -> None:
    graph = MemoryGraph()
    user = graph.add("user_id:u", "email:e1@x.io")
    resolution = run(graph, "user_id:u", "email:e2@x.io")
    assert resolution == Resolution(user, attach=tuple(ids("email:e2@x.io")))


def test_emails_attach_up_to_the_limit_and_the_sixth_is_dropped() -> None:
    graph = MemoryGraph()
    user = graph.add("user_id:u")
    for n in range(1, 6):
        resolution = run(graph, "user_id:u", f"email:e{n}@x.io")
        assert resolution == Resolution(user, attach=tuple(ids(f"email:e{n}@x.io")))
        graph.apply(resolution)
    resolution = run(graph, "user_id:u", "email:e6@x.io")
    assert resolution.profile_id == user
    assert resolution.attach == ()
    assert resolution.dropped == tuple(ids("email:e6@x.io"))
    assert resolution.reasons == ("email dropped: the profile would hold 6 email (limit 5)",)
    graph.apply(resolution)
    assert Identifier("email", "e6@x.io") not in graph.owner


def test_alias_merges_the_anonymous_profile_with_the_users() -> None:
    graph = MemoryGraph()
    user = graph.add("user_id:u", "anonymous_id:signup-device")
    visitor = graph.add("anonymous_id:before-signup")
    alias = {
        "type": "alias",
        "user_id": "u",
        "previous_id": "before-signup",
        "anonymous_id": "signup-device",
        "traits": {},
        "context": {},
        "properties": {},
    }
    resolution = resolve(extract_identifiers(alias, RULES), graph, RULES)
    assert (resolution.profile_id, resolution.merged, resolution.attach) == (user, (visitor,), ())
    graph.apply(resolution)
    assert graph.texts(user) == {
        "user_id:u",
        "anonymous_id:signup-device",
        "anonymous_id:before-signup",
    }


def test_alias_of_an_anonymous_profile_created_first_keeps_that_profile() -> None:
    graph = MemoryGraph()
    visitor = graph.add("anonymous_id:before-signup")
    user = graph.add("user_id:u")
    resolution = run(graph, "user_id:u", "anonymous_id:before-signup")
    assert (resolution.profile_id, resolution.merged) == (visitor, (user,))
    graph.apply(resolution)
    assert graph.texts(visitor) == {"user_id:u", "anonymous_id:before-signup"}


def test_two_profiles_with_different_user_ids_are_never_merged() -> None:
    graph = MemoryGraph()
    graph.add("user_id:u1", "email:shared@x.io", "phone:+14155552671")
    second = graph.add("user_id:u2")
    resolution = run(graph, "user_id:u2", "email:shared@x.io", "phone:+14155552671")
    assert resolution.profile_id == second
    assert resolution.merged == ()
    assert resolution.attach == ()
    assert resolution.dropped == tuple(ids("email:shared@x.io", "phone:+14155552671"))
    assert len(resolution.reasons) == 2
    assert all("2 user_id (limit 1)" in reason for reason in resolution.reasons)


def test_an_event_linking_two_users_without_a_user_id_goes_to_the_higher_priority_match() -> None:
    graph = MemoryGraph()
    by_email = graph.add("user_id:u1", "email:e@x.io")
    graph.add("user_id:u2", "anonymous_id:x")
    resolution = run(graph, "email:e@x.io", "anonymous_id:x")
    assert resolution.profile_id == by_email
    assert resolution.dropped == tuple(ids("anonymous_id:x"))


def test_limits_force_a_new_profile() -> None:
    graph = MemoryGraph()
    visitor = graph.add("anonymous_id:x", *(f"email:e{n}@x.io" for n in range(5)))
    resolution = run(graph, "email:new@x.io", "anonymous_id:x")
    assert resolution.profile_id is None
    assert resolution.attach == tuple(ids("email:new@x.io"))
    assert resolution.dropped == tuple(ids("anonymous_id:x"))
    graph.apply(resolution)
    assert len(graph.held[visitor]) == 6


def test_a_custom_limit_forces_a_new_profile_for_a_shared_device() -> None:
    rules = IdentityRules(limits={"device_id": 1}, priorities={"device_id": 3})
    graph = MemoryGraph()
    graph.add("device_id:kiosk", "anonymous_id:a1")
    resolution = run(graph, "device_id:kiosk-2", "anonymous_id:a1", rules=rules)
    assert resolution == Resolution(
        None,
        attach=tuple(ids("device_id:kiosk-2")),
        dropped=tuple(ids("anonymous_id:a1")),
        reasons=("anonymous_id dropped: the profile would hold 2 device_id (limit 1)",),
    )


def test_the_identifier_cap_counts_every_type() -> None:
    rules = IdentityRules(max_identifiers_per_profile=3)
    graph = MemoryGraph()
    user = graph.add("user_id:u", "email:e@x.io", "anonymous_id:a")
    resolution = run(graph, "user_id:u", "anonymous_id:b", rules=rules)
    assert resolution.profile_id == user
    assert resolution.attach == ()
    assert resolution.reasons == (
        "anonymous_id dropped: the profile would hold 4 identifiers (cap 3)",
    )


def test_a_new_profile_respects_the_limits_too() -> None:
    rules = IdentityRules(limits={"anonymous_id": 1})
    resolution = run(MemoryGraph(), "user_id:u", "anonymous_id:a", "anonymous_id:b", rules=rules)
    assert resolution.profile_id is None
    assert resolution.attach == tuple(ids("user_id:u", "anonymous_id:a"))
    assert resolution.dropped == tuple(ids("anonymous_id:b"))


def test_the_merge_guard_refuses_a_survivor_at_the_cap() -> None:
    graph = MemoryGraph()
    survivor = graph.add("user_id:u", merges=100)
    other = graph.add("anonymous_id:y")
    resolution = run(graph, "user_id:u", "anonymous_id:y")
    assert resolution.profile_id == survivor
    assert resolution.merged == ()
    assert resolution.dropped == tuple(ids("anonymous_id:y"))
    assert resolution.reasons == (
        "anonymous_id dropped: the profile would have absorbed 101 merges (cap 100)",
    )
    graph.apply(resolution)
    assert graph.texts(other) == {"anonymous_id:y"}


def test_the_merge_guard_allows_reaching_the_cap() -> None:
    graph = MemoryGraph()
    survivor = graph.add("user_id:u", merges=99)
    other = graph.add("anonymous_id:y")
    resolution = run(graph, "user_id:u", "anonymous_id:y")
    assert (resolution.profile_id, resolution.merged) == (survivor, (other,))


def test_the_merge_guard_counts_what_the_merged_profiles_absorbed() -> None:
    graph = MemoryGraph()
    survivor = graph.add("user_id:u", merges=50)
    graph.add("anonymous_id:y", merges=50)
    resolution = run(graph, "user_id:u", "anonymous_id:y")
    assert resolution.profile_id == survivor
    assert resolution.merged == ()
    assert "101 merges (cap 100)" in resolution.reasons[0]


def test_a_merge_guard_of_zero_never_merges_but_still_attaches() -> None:
    rules = IdentityRules(max_merges_per_profile=0)
    graph = MemoryGraph()
    user = graph.add("user_id:u")
    graph.add("anonymous_id:y")
    resolution = run(graph, "user_id:u", "anonymous_id:y", "email:e@x.io", rules=rules)
    assert resolution.profile_id == user
    assert resolution.attach == tuple(ids("email:e@x.io"))
    assert resolution.dropped == tuple(ids("anonymous_id:y"))


def test_a_profile_over_a_lowered_limit_keeps_receiving_events_but_does_not_grow() -> None:
    graph = MemoryGraph()
    user = graph.add("user_id:u", *(f"email:e{n}@x.io" for n in range(6)))
    rules = IdentityRules(limits={"email": 3})
    resolution = run(graph, "user_id:u", "email:e0@x.io", "anonymous_id:new", rules=rules)
    assert resolution == Resolution(user, attach=tuple(ids("anonymous_id:new")))
    resolution = run(graph, "user_id:u", "email:another@x.io", rules=rules)
    assert resolution.profile_id == user
    assert resolution.dropped == tuple(ids("email:another@x.io"))


def test_a_profile_over_a_lowered_limit_does_not_absorb_more_of_that_type() -> None:
    graph = MemoryGraph()
    big = graph.add("user_id:u", *(f"email:e{n}@x.io" for n in range(6)))
    graph.add("anonymous_id:y", "email:other@x.io")
    rules = IdentityRules(limits={"email": 3})
    resolution = run(graph, "user_id:u", "anonymous_id:y", rules=rules)
    assert (resolution.profile_id, resolution.merged) == (big, ())
    assert resolution.dropped == tuple(ids("anonymous_id:y"))


def test_an_unreached_identifier_keeps_its_place_when_a_lower_one_is_dropped() -> None:
    """Dropping from the bottom would also drop x, held by the profile the event lands on."""
    graph = MemoryGraph()
    user = graph.add("user_id:u", "anonymous_id:x")
    graph.add("user_id:v", "email:e@x.io")
    resolution = run(graph, "user_id:u", "email:e@x.io", "anonymous_id:x")
    assert resolution.profile_id == user
    assert resolution.dropped == tuple(ids("email:e@x.io"))
    assert resolution.attach == ()


class _Contradictory(MemoryGraph):
    """A graph whose `identifiers_of` lists another user_id than the one `profile_of` finds."""

    def identifiers_of(self, profile_id: int) -> frozenset[Identifier]:
        return frozenset({Identifier("user_id", f"ghost-{profile_id}")})


def test_all_identifiers_dropped_goes_to_the_profile_of_the_first() -> None:
    """Only reachable with a graph that contradicts itself; the event still lands somewhere."""
    graph = _Contradictory()
    first = graph.add("user_id:u")
    graph.add("user_id:v")
    resolution = run(graph, "user_id:u")
    assert resolution == Resolution(
        first,
        dropped=tuple(ids("user_id:u")),
        reasons=("user_id dropped: the profile would hold 2 user_id (limit 1)",),
    )
    resolution = run(graph, "user_id:v", "user_id:u")
    assert resolution.profile_id == first
    assert resolution.attach == ()
    assert resolution.dropped == tuple(ids("user_id:u", "user_id:v"))


@pytest.mark.parametrize(
    "event",
    [
        ["user_id:u", "anonymous_id:x"],
        ["anonymous_id:x"],
        ["email:e@x.io", "phone:+14155552671"],
        ["user_id:b", "anonymous_id:x", "email:e@x.io"],
    ],
)
def test_resolution_does_not_depend_on_input_order(event: list[str]) -> None:
    graph = MemoryGraph()
    graph.add("user_id:a", "anonymous_id:x")
    graph.add("email:e@x.io")
    assert run(graph, *event) == run(graph, *reversed(event))
