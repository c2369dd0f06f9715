"""Windowed computed traits whose oldest counted event has left the window, recomputed on time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import Connection

from cdp.profiles.computed.maintain import ComputedTraits, refresh_windowed

__all__ = ["EXPIRIES_PER_PASS", "expire_due"]

#: Rows recomputed per call: one transaction's worth that never holds profile locks for long.
EXPIRIES_PER_PASS = 5000


def expire_due(
    conn: Connection[Any], traits: ComputedTraits, now: datetime
) -> dict[str, list[int]]:
    """Recompute every windowed value due at `now` (in the caller's transaction); returns the
    profiles recomputed per trait name.

    Due rows are read without locks; the profiles are then locked in id order, as the processor
    locks them, and only then the shared catalog lock is taken (as a batch takes it, after its
    profiles), so this never waits for a lock while holding one a batch or an apply waits for.
    """
    due = conn.execute(
        "SELECT name, profile_id FROM computed_trait_values WHERE expires_at <= %s "
        "ORDER BY expires_at LIMIT %s",
        (now, EXPIRIES_PER_PASS),
    ).fetchall()
    if not due:
        return {}
    by_name: dict[str, list[int]] = {}
    for name, pid in due:
        by_name.setdefault(name, []).append(pid)
    conn.execute(
        "SELECT id FROM profiles WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
        (sorted({pid for _, pid in due}),),
    )
    definitions = {d.name: d for d in traits.current(conn) if d.window is not None}
    for name, ids in sorted(by_name.items()):
        if name in definitions:
            refresh_windowed(conn, [definitions[name]], sorted(ids), now)
    return {name: ids for name, ids in by_name.items() if name in definitions}
