"""Consent granted later: a member held back for want of consent enters the destination then.

Real `cdp activation` workers, the real broker and Postgres, a real HTTP receiver. The profiles,
identifiers and memberships are written into the tables as the processor writes them (PII
sealed); the membership changes are published as the relay publishes them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cdp.activation.destinations.grants import GRANT_REASON, grant_change_id
from cdp.activation.segments import parse_segment
from cdp.db.tables import (
    destination_members,
    destination_pending,
    identifiers,
    profiles,
    segment_memberships,
    segments,
)
from cdp.settings import Settings
from tests.conftest import wait_for
from tests.integration.activation.destinations.conftest import (
    SECRET,
    Apply,
    Receiver,
    activation_process,
    change,
    publish,
    status_of,
)
from tests.integration.pii import identifier_row, seal

pytestmark = pytest.mark.integration

PATH = "/gated"


@pytest.fixture
def segment(engine: Engine) -> Iterator[str]:
    """An active segment of this test's own (its condition matches no other test's profile)."""
    slug = f"grant-{uuid.uuid4().hex[:8]}"
    definition = parse_segment(
        {
            "slug": slug,
            "name": "Grant test",
            "condition": {"trait": {"name": f"only_{slug.replace('-', '_')}", "op": "exists"}},
            "emit": {"traits": ["plan", "email"], "identifiers": ["email", "user_id"]},
        }
    )
    with engine.begin() as conn:
        conn.execute(
            sa.insert(segments).values(
                slug=slug,
                name=definition.name,
                version=3,
                fingerprint=definition.fingerprint(),
                definition=definition.canonical(),
            )
        )
    yield slug
    with engine.begin() as conn:
        conn.execute(sa.delete(segment_memberships).where(segment_memberships.c.slug == slug))
        conn.execute(sa.delete(segments).where(segments.c.slug == slug))


def member(engine: Engine, settings: Settings, slug: str, consent: dict[str, bool]) -> int:
    """A profile (traits with a PII one sealed, two identifiers) that is a member of `slug`."""
    computed = {"consent": {p: {"granted": g, "at": 1} for p, g in consent.items()}}
    seen = datetime.now(UTC)
    with engine.begin() as conn:
        pid = int(
            conn.execute(
                sa.insert(profiles)
                .values(traits={}, trait_times={}, computed=computed, merge_count=0)
                .returning(profiles.c.id)
            ).scalar_one()
        )
        traits = seal(settings, {"plan": "gold", "email": f"p{pid}@example.com", "age": 41})
        conn.execute(sa.update(profiles).where(profiles.c.id == pid).values(traits=traits))
        for id_type, value in (("email", f"p{pid}@example.com"), ("user_id", f"u{pid}")):
            conn.execute(
                sa.insert(identifiers).values(identifier_row(settings, id_type, value, pid, seen))
            )
        conn.execute(sa.insert(segment_memberships).values(slug=slug, profile_id=pid, version=3))
    return pid


def set_consent(engine: Engine, pid: int, consent: dict[str, bool], at: int) -> None:
    computed = {"consent": {p: {"granted": g, "at": at} for p, g in consent.items()}}
    with engine.begin() as conn:
        conn.execute(sa.update(profiles).where(profiles.c.id == pid).values(computed=computed))


def pairs(engine: Engine, table: sa.Table, name: str) -> set[tuple[str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(table.c.segment, table.c.profile_id).where(table.c.destination == name)
        ).all()
    return {(r[0], r[1]) for r in rows}


def hits_of(receiver: Receiver, pid: int) -> list[dict[str, Any]]:
    return [h.body for h in receiver.received(PATH) if h.body["profile_id"] == pid]


def test_consent_granted_later_delivers_the_entry_once_and_revocation_exits(
    activation_settings: Settings,
    engine: Engine,
    receiver: Receiver,
    apply: Apply,
    segment: str,
    tmp_path: Path,
) -> None:
    name = f"gated-{uuid.uuid4().hex[:6]}"
    retry = {"max_attempts": 5, "base_backoff_s": 0.05, "max_backoff_s": 0.2}
    apply(
        [
            {
                "name": name,
                "segments": [segment],
                "consent": ["marketing"],
                "retry": retry,
                "channel": {"type": "webhook", "url": receiver.url(PATH), "secret": SECRET},
            }
        ]
    )
    later = member(engine, activation_settings, segment, {"marketing": False})
    never = member(engine, activation_settings, segment, {})
    left = member(engine, activation_settings, segment, {})
    now = member(engine, activation_settings, segment, {"marketing": True})
    entries = {pid: change(segment, pid) for pid in (later, never, left, now)}
    with activation_process(activation_settings, tmp_path / "activation.log"):
        publish(activation_settings, list(entries.values()))
        wait_for(lambda: status_of(engine, name).get("suppressed") == 3, timeout=60, what="gate")
        wait_for(lambda: len(receiver.received(PATH)) == 1, timeout=30, what="consenting entry")
        assert pairs(engine, destination_pending, name) == {
            (segment, later),
            (segment, never),
            (segment, left),
        }
        publish(activation_settings, [change(segment, left, "exited")])
        wait_for(
            lambda: (segment, left) not in pairs(engine, destination_pending, name),
            timeout=30,
            what="an exit to end the wait for consent",
        )
        with engine.begin() as conn:
            conn.execute(
                sa.delete(segment_memberships).where(segment_memberships.c.profile_id == left)
            )
        set_consent(engine, left, {"marketing": True}, 2)

        granted_id = grant_change_id(name, segment, later, entries[later]["change_id"])
        receiver.script[granted_id] = [500]
        set_consent(engine, later, {"marketing": True}, 2)
        wait_for(lambda: hits_of(receiver, later) != [], timeout=30, what="the entry on grant")
        wait_for(
            lambda: (segment, later) in pairs(engine, destination_members, name),
            timeout=30,
            what="the destination to hold the granted profile",
        )
        entry = hits_of(receiver, later)[0]
        assert entry["change_id"] == granted_id
        assert receiver.attempts[granted_id] == 2, "retried once after the 500, with the same id"
        assert (entry["change"], entry["reason"], entry["segment_version"]) == (
            "entered",
            GRANT_REASON,
            3,
        )
        assert entry["traits"] == {"plan": "gold", "email": f"p{later}@example.com"}
        assert entry["identifiers"] == [f"email:p{later}@example.com", f"user_id:u{later}"]

        set_consent(engine, later, {"marketing": False}, 3)
        wait_for(lambda: len(hits_of(receiver, later)) == 2, timeout=30, what="revocation exit")
        wait_for(
            lambda: (segment, later) in pairs(engine, destination_pending, name),
            timeout=30,
            what="the revoked profile to wait for consent again",
        )
        set_consent(engine, later, {"marketing": True}, 4)
        wait_for(lambda: len(hits_of(receiver, later)) == 3, timeout=30, what="re-entry")
    exit_hit, again = hits_of(receiver, later)[1:]
    assert (exit_hit["change"], exit_hit["reason"]) == ("exited", "consent_revoked")
    assert again["change"] == "entered"
    assert again["change_id"] not in {granted_id, exit_hit["change_id"]}
    assert [h["change_id"] for h in hits_of(receiver, now)] == [entries[now]["change_id"]]
    assert hits_of(receiver, never) == []
    assert hits_of(receiver, left) == []
    assert len(receiver.received(PATH)) == 4
    assert pairs(engine, destination_pending, name) == {(segment, never)}
