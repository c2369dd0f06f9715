"""The pure parts of the pipeline benchmark: the synthetic workload and the pairwise scores."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import pytest

from cdp.bench.quality import pair_counts
from cdp.bench.synthetic import Workload, generate, phone_variants
from cdp.identity import normalize_email, normalize_phone
from cdp.ingest.validate import BatchContext, validate_batch
from cdp.settings import Limits


@pytest.fixture(scope="module")
def workload() -> Workload:
    return generate(persons=1500, events=15_000, seed=7)


def test_the_same_seed_gives_the_same_workload() -> None:
    one, two = generate(100, 1000, seed=3), generate(100, 1000, seed=3)
    assert one.messages == two.messages
    assert one.truth == two.truth
    assert one.persons == two.persons


def test_another_seed_gives_another_workload() -> None:
    assert generate(100, 1000, seed=3).messages != generate(100, 1000, seed=4).messages


def test_the_event_count_is_the_one_asked_for(workload: Workload) -> None:
    assert len(workload.messages) == 15_000


def test_stories_need_at_least_their_skeleton() -> None:
    small = generate(50, 10, seed=1)
    assert len(small.messages) > 10
    assert {p.index for p in small.persons} == set(small.truth)


def test_every_event_has_a_truth_label_and_its_own_message_id(workload: Workload) -> None:
    assert len(workload.truth) == len(workload.messages) == len(workload.times)
    assert set(workload.truth) == {p.index for p in workload.persons}
    by_id = workload.truth_by_message_id()
    assert len(by_id) == len(workload.messages)


def test_events_come_in_event_time_order(workload: Workload) -> None:
    assert workload.times == sorted(workload.times)
    for message, at in zip(workload.messages[:200], workload.times, strict=False):
        moment = datetime.fromisoformat(message["timestamp"].replace("Z", "+00:00"))
        assert int(moment.timestamp() * 1000) == at


def test_a_user_id_belongs_to_one_person(workload: Workload) -> None:
    owners: dict[str, set[int]] = defaultdict(set)
    for message, person in zip(workload.messages, workload.truth, strict=True):
        if "userId" in message:
            owners[message["userId"]].add(person)
    assert all(len(people) == 1 for people in owners.values())
    assert {next(iter(p)) for p in owners.values()} == {p.index for p in workload.persons}
    for someone in workload.persons:
        assert owners[someone.user_id] == {someone.index}


def test_shared_devices_are_used_by_two_people_one_after_the_other(workload: Workload) -> None:
    users: dict[str, list[tuple[int, int]]] = defaultdict(list)
    anonymous: dict[str, set[int]] = defaultdict(set)
    for message, person, at in zip(workload.messages, workload.truth, workload.times, strict=True):
        device = message.get("anonymousId")
        if device is None:
            continue
        users[device].append((at, person))
        if "userId" not in message:
            anonymous[device].add(person)
    shared = {d: uses for d, uses in users.items() if len({p for _, p in uses}) > 1}
    assert workload.shared_devices > 10
    assert len(shared) == workload.shared_devices
    for device, uses in shared.items():
        people = [p for _, p in uses]
        assert len(set(people)) == 2
        owner, borrower = people[0], people[-1]
        assert max(at for at, p in uses if p == owner) < min(at for at, p in uses if p == borrower)
        # the borrower is always logged in there, so only the owner's events are anonymous
        assert anonymous[device] <= {owner}


def test_contacts_vary_in_spelling_but_normalise_to_the_persons_own(workload: Workload) -> None:
    persons = {p.index: p for p in workload.persons}
    spellings: dict[int, set[str]] = defaultdict(set)
    phones_seen = 0
    for message, person in zip(workload.messages, workload.truth, strict=True):
        traits = message.get("traits") or {}
        if "email" in traits:
            spellings[person].add(traits["email"])
            assert normalize_email(traits["email"]) == persons[person].email
        if "phone" in traits:
            phones_seen += 1
            assert normalize_phone(traits["phone"], "US") == persons[person].phone
    assert phones_seen > 100
    assert sum(1 for s in spellings.values() if len(s) > 1) > len(spellings) // 4


def test_some_devices_are_linked_by_a_contact_alone(workload: Workload) -> None:
    contact_only = [
        m
        for m in workload.messages
        if m["type"] == "identify" and "userId" not in m and m.get("traits")
    ]
    assert any("phone" in m["traits"] for m in contact_only)
    assert any("email" in m["traits"] for m in contact_only)


def test_server_side_orders_carry_the_user_id_alone(workload: Workload) -> None:
    orders = [m for m in workload.messages if "anonymousId" not in m]
    assert orders
    assert all(m["event"] == "Order Completed" and m["properties"]["revenue"] > 0 for m in orders)


def test_every_event_is_one_the_collector_accepts(workload: Workload) -> None:
    oks, errs = validate_batch(workload.messages[:3000], BatchContext("src", 0, Limits()))
    assert errs == []
    assert len(oks) == 3000


def test_phone_variants_all_normalise_to_the_number() -> None:
    variants = phone_variants("+14155552671")
    assert len(set(variants)) == len(variants)
    assert {normalize_phone(v, "US") for v in variants} == {"+14155552671"}


def test_pairs_of_a_perfect_clustering() -> None:
    counts = pair_counts([("a", 1), ("a", 1), ("b", 2), ("b", 2), ("b", 2), ("c", 3)])
    assert (counts.together, counts.predicted, counts.actual) == (4, 4, 4)
    assert counts.precision == counts.recall == 1.0
    assert (counts.items, counts.clusters, counts.classes) == (6, 3, 3)


def test_pairs_when_everything_is_merged_into_one_profile() -> None:
    counts = pair_counts([("all", 1), ("all", 1), ("all", 2), ("all", 2), ("all", 3)])
    assert counts.predicted == 10
    assert counts.actual == 2
    assert counts.recall == 1.0
    assert counts.precision == pytest.approx(0.2)


def test_pairs_when_nothing_is_put_together() -> None:
    counts = pair_counts([("a", 1), ("b", 1), ("c", 1), ("d", 2)])
    assert counts.precision == 1.0
    assert counts.recall == 0.0


def test_pairs_of_a_partly_wrong_clustering() -> None:
    counts = pair_counts([("a", 1), ("a", 1), ("a", 2), ("b", 2), ("b", 2)])
    assert (counts.together, counts.predicted, counts.actual) == (2, 4, 4)
    assert counts.precision == 0.5
    assert counts.recall == 0.5


def test_pairs_of_nothing() -> None:
    counts = pair_counts([])
    assert (counts.precision, counts.recall, counts.items) == (1.0, 1.0, 0)
