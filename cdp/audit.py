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

__all__ = ["MAX_TEXT", "audit_entries", "record", "record_now"]

#: Longest string kept in an audit row: callers pass request-derived text (an identifier type, a
#: slug), and a row must stay small whatever a client sends.
MAX_TEXT = 200


def _clean(value: Any) -> Any:
    """`value` safe for a text or JSONB column: NUL replaced (Postgres refuses it), strings cut."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")[:MAX_TEXT]
    if isinstance(value, dict):
        return {_clean(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def record(
    conn: Connection,
    *,
    actor: str,
    action: str,
    target: str,
    outcome: str,
    detail: Mapping[str, Any] | None = None,
    durable: bool = True,
) -> None:
    """Insert one audit row in `conn`'s current transaction (committed with the caller's work).

    Text is cleaned (`_clean`) so that no client input can make the insert, and with it the
    caller's transaction, fail. ``durable=False`` is for transactions that only read otherwise
    (a profile read): their commit then does not wait for a WAL flush (``synchronous_commit``
    off for this transaction only), so auditing a read adds no fsync to it; the row reaches disk
    within the WAL writer's delay (200 ms by default), so only a Postgres crash in that window
    can lose it. Deletions and exports keep the default.
    """
    if not durable:
        conn.execute(sa.text("SET LOCAL synchronous_commit = off"))
    conn.execute(
        audit_log.insert().values(
            actor=_clean(actor),
            action=_clean(action),
            target=_clean(target),
            outcome=_clean(outcome),
            detail=_clean(dict(detail or {})),
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
