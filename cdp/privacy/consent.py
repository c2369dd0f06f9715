"""Consent decided by API or CLI: folded into the profile as event consent is, then segments.

The decision is kept with its time, and an older decision never overrides a newer one, exactly
as `cdp.profiles.fold` folds ``context.consent.categoryPreferences``. Segments that read consent
are re-evaluated for the profile in the same transaction, so a revocation exits its audiences.
"""

from __future__ import annotations

from typing import Any

import orjson
from psycopg import Connection
from psycopg.types.json import Jsonb

from cdp.activation.membership import SegmentCache, evaluate_segments
from cdp.activation.segments import reads
from cdp.privacy.subject import Person
from cdp.schemas import Codec

__all__ = ["fold_decision", "record_consent"]

REASON = "consent"


def fold_decision(computed: dict[str, Any], purpose: str, granted: bool, at: int) -> bool:
    """Apply one decision at epoch-ms `at`; whether it was taken (it is not when the profile
    already holds a later decision for `purpose`)."""
    held = computed.setdefault("consent", {})
    if at < held.get(purpose, {}).get("at", at):
        return False
    held[purpose] = {"granted": granted, "at": at}
    return True


def record_consent(
    conn: Connection[Any],
    person: Person,
    purpose: str,
    granted: bool,
    at: int,
    codec: Codec,
    membership_topic: str,
) -> dict[str, Any]:
    """Fold the decision into the live profile (locked by the caller); what happened."""
    row = conn.execute(
        "SELECT computed::text FROM profiles WHERE id = %s", (person.live_id,)
    ).fetchone()
    assert row is not None
    computed = orjson.loads(row[0])
    applied = fold_decision(computed, purpose, granted, at)
    changes = 0
    if applied:
        conn.execute(
            "UPDATE profiles SET computed = %s, updated_at = now() WHERE id = %s",
            (Jsonb(computed), person.live_id),
        )
        segments = [s for s in SegmentCache().current(conn) if reads(s.definition).consent]
        changes = len(
            evaluate_segments(conn, segments, [person.live_id], codec, membership_topic, REASON)
        )
    return {
        "profile_id": str(person.live_id),
        "purpose": purpose,
        "granted": granted,
        "applied": applied,
        "consent": computed.get("consent", {}),
        "membership_changes": changes,
    }
