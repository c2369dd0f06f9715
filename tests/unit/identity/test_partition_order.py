"""Resolution of events read off the raw topic in any order Kafka allows.

Kafka keeps the order of one key's records and nothing else: a processor catching up on a
backlog may read one partition days of event time ahead of another. These scenarios go through
the collector's validation (which sets the key) and the resolver, in every interleaving of the
per-key streams hypothesis finds, and check the profiles against who really did what.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from cdp.identity import IdentityRules, extract_identifiers, resolve
from cdp.ingest.validate import BatchContext, validate_batch
from cdp.settings import Limits
from tests.unit.identity.memory_graph import MemoryGraph

BATCH = BatchContext(source_id="src_1", received_at=1_800_000_000_000, limits=Limits())
RULES = IdentityRules()

#: A message as (raw-topic key, the person who sent it, what the resolver reads).
Keyed = tuple[bytes, str, dict[str, Any]]

#: (person, message) in event order. Alice browses on the family tablet, logs in and shops;
#: days later Bob, who has his own laptop, logs in on the same tablet without anyone having
#: called `reset()`, so the tablet's anonymousId comes along. Alice also has a phone she only
#: leaves her email on, and a backend sends her order by userId alone.
SHARED_TABLET: list[tuple[str, dict[str, Any]]] = [
    ("alice", {"type": "page", "anonymousId": "tablet", "name": "Home"}),
    ("alice", {"type": "track", "anonymousId": "tablet", "event": "Product Viewed"}),
    ("alice", {"type": "identify", "anonymousId": "tablet", "userId": "alice"}),
    ("alice", {"type": "track", "anonymousId": "tablet", "userId": "alice", "event": "Cart"}),
    ("alice", {"type": "track", "userId": "alice", "event": "Order Completed"}),
    ("bob", {"type": "page", "anonymousId": "laptop", "name": "Home"}),
    ("alice", {"type": "page", "anonymousId": "phone", "name": "Sale"}),
    (
        "alice",
        {"type": "identify", "anonymousId": "phone", "traits": {"email": "A@example.com "}},
    ),
    ("alice", {"type": "identify", "userId": "alice", "traits": {"email": "a@example.com"}}),
    ("bob", {"type": "identify", "anonymousId": "laptop", "userId": "bob"}),
    ("bob", {"type": "identify", "anonymousId": "tablet", "userId": "bob"}),
    ("bob", {"type": "track", "anonymousId": "tablet", "userId": "bob", "event": "Cart"}),
    ("bob", {"type": "page", "anonymousId": "laptop", "userId": "bob", "name": "Account"}),
]


def _keyed(story: Sequence[tuple[str, dict[str, Any]]]) -> list[Keyed]:
    """Each message as (raw-topic key, person, what the resolver reads), in event order."""
    oks, errs = validate_batch([dict(m) for _, m in story], BATCH)
    assert errs == []
    out = []
    for (person, _), ok in zip(story, oks, strict=True):
        e = ok.envelope
        event = {
            "type": e["type"],
            "user_id": e["user_id"],
            "anonymous_id": e["anonymous_id"],
            "previous_id": e["previous_id"],
            "traits": orjson.loads(e["traits"]),
            "context": orjson.loads(e["context"]),
            "properties": orjson.loads(e["properties"]),
        }
        assert ok.key is not None
        out.append((ok.key, person, event))
    return out


def _interleaving(story: Sequence[tuple[str, dict[str, Any]]]) -> st.SearchStrategy[list[int]]:
    """Orders of the story's messages that keep each key's messages in event order."""
    keys = [key for key, _, _ in _keyed(story)]
    return st.permutations(keys).map(lambda drawn: _replay_order(keys, drawn))


def _replay_order(keys: list[bytes], drawn: Sequence[bytes]) -> list[int]:
    """Message indexes in the order the keys are `drawn`, each key's own in event order."""
    queues: dict[bytes, list[int]] = {}
    for index, key in enumerate(keys):
        queues.setdefault(key, []).append(index)
    return [queues[key].pop(0) for key in drawn]


def _resolve_in(order: Sequence[int], keyed: list[Keyed]) -> list[int]:
    """The profile each message ends on, resolving in `order` and following merges."""
    graph = MemoryGraph()
    into: dict[int, int] = {}
    landed: dict[int, int] = {}
    for index in order:
        resolution = resolve(extract_identifiers(keyed[index][2], RULES), graph, RULES)
        landed[index] = graph.apply(resolution)
        for loser in resolution.merged:
            into[loser] = landed[index]

    def final(profile_id: int) -> int:
        while profile_id in into:
            profile_id = into[profile_id]
        return profile_id

    return [final(landed[i]) for i in range(len(keyed))]


def test_a_devices_story_shares_one_key_from_anonymous_browsing_to_the_second_login() -> None:
    keyed = _keyed(SHARED_TABLET)
    assert {key for key, _, e in keyed if e["anonymous_id"] == "tablet"} == {b"tablet"}
    assert [key for key, _, e in keyed if e["anonymous_id"] is None] == [b"alice", b"alice"]


def assert_one_profile_per_person(profiles: list[int], keyed: list[Keyed]) -> None:
    """Every person's events on one profile, and no profile with two persons' events."""
    people_on: dict[int, set[str]] = {}
    profiles_of: dict[str, set[int]] = {}
    for profile, (_, person, _) in zip(profiles, keyed, strict=True):
        people_on.setdefault(profile, set()).add(person)
        profiles_of.setdefault(person, set()).add(profile)
    assert all(len(people) == 1 for people in people_on.values()), people_on
    assert all(len(found) == 1 for found in profiles_of.values()), profiles_of


def test_in_event_order_the_tablet_history_stays_with_its_first_user() -> None:
    keyed = _keyed(SHARED_TABLET)
    assert_one_profile_per_person(_resolve_in(range(len(keyed)), keyed), keyed)


@settings(max_examples=300, deadline=None)
@given(_interleaving(SHARED_TABLET))
def test_any_order_kafka_allows_gives_each_person_one_profile_of_their_own(
    order: list[int],
) -> None:
    keyed = _keyed(SHARED_TABLET)
    assert_one_profile_per_person(_resolve_in(order, keyed), keyed)
