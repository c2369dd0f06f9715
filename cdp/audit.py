"""The audit log: who did what to whom, when, and how it ended, one row per action.

Callers record inside the transaction that does the work (`record`), so an action and its audit
row commit or roll back together and the cost is one INSERT on a connection already open. Where
no transaction is at hand (a refusal, or work done by a function that manages its own), use
`record_now`. Actions are dotted names (``profile.read``, ``segment.write``, ``privacy.delete``);
the actor is an API key id (``bootstrap`` for the settings token, ``cli`` for local commands).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from cdp.db.tables import audit_log

__all__ = ["audit_entries", "record", "record_now"]


def record(
    conn: Connection,
    *,
    actor: str,
    action: str,
    target: str,
    outcome: str,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Insert one audit row in `conn`'s current transaction (committed with the caller's work)."""
    conn.execute(
        audit_log.insert().values(
            actor=actor, action=action, target=target, outcome=outcome, detail=dict(detail or {})
        )
    )


def record_now(
    engine: Engine,
    *,
    actor: str,
    action: str,
    target: str,
    outcome: str,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Insert and commit one audit row in a transaction of its own."""
    with engine.begin() as conn:
        record(conn, actor=actor, action=action, target=target, outcome=outcome, detail=detail)


def audit_entries(
    conn: Connection, *, target: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """The latest entries, newest first, optionally only those about `target`."""
    query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if target is not None:
        query = query.where(audit_log.c.target == target)
    return [{**row, "at": row["at"].isoformat()} for row in conn.execute(query).mappings().all()]
