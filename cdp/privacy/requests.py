"""The `privacy_requests` table: the audit of every request and the state of deletion jobs.

A row names its subject by identifier type and keyed hash only. A deletion job keeps the subject
in clear in `subject` while it is pending or running (the worker needs it) and forgets it the
moment the job ends, whether it succeeded or failed.
"""

from __future__ import annotations

from typing import Any, Literal

from psycopg import Connection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from cdp.identity import Identifier
from cdp.privacy.errors import InvalidTransition

__all__ = [
    "TRANSITIONS",
    "Kind",
    "Status",
    "check_transition",
    "claim_request",
    "finish_request",
    "open_request",
    "read_request",
    "release_request",
]

Kind = Literal["export", "delete", "suppress", "consent"]
Status = Literal["pending", "running", "done", "failed"]

#: A job moves forward only; `done` and `failed` are final (a failed deletion is asked again).
TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"running", "failed"}),
    "running": frozenset({"done", "failed"}),
    "done": frozenset(),
    "failed": frozenset(),
}


def check_transition(current: str, new: str) -> None:
    """`InvalidTransition` unless a request in `current` may move to `new`."""
    if new not in TRANSITIONS.get(current, frozenset()):
        raise InvalidTransition(f"a request cannot go from {current} to {new}")


def open_request(
    conn: Connection[Any],
    kind: Kind,
    requested_by: str,
    subject: Identifier,
    id_hash: str,
    status: Status = "running",
    keep_subject: bool = False,
) -> int:
    """Record a new request; its id. `keep_subject` stores the clear subject for a job."""
    row = conn.execute(
        "INSERT INTO privacy_requests (kind, status, requested_by, id_type, id_hash, subject, "
        "started_at) VALUES (%s, %s, %s, %s, %s, %s, CASE WHEN %s = 'running' THEN now() END) "
        "RETURNING id",
        (
            kind,
            status,
            requested_by,
            subject.type,
            id_hash,
            str(subject) if keep_subject else None,
            status,
        ),
    ).fetchone()
    assert row is not None
    request_id = int(row[0])
    _audit(conn, requested_by, f"privacy.{kind}", request_id, status, {"id_type": subject.type})
    return request_id


def _audit(
    conn: Connection[Any],
    actor: str,
    action: str,
    request_id: int,
    outcome: str,
    detail: dict[str, Any],
) -> None:
    """One `audit_log` row (see `cdp.audit`) in the request's transaction. The target is the
    request, never the person: the audit log outlives a deletion and must not name its subject."""
    conn.execute(
        "INSERT INTO audit_log (actor, action, target, outcome, detail) VALUES (%s, %s, %s, %s, %s)",
        (actor[:200], action, f"privacy_request:{request_id}", outcome, Jsonb(detail)),
    )


#: Namespace of the session advisory lock a worker holds on a job while it runs it.
JOB_LOCK = "cdp.privacy.request:"


def claim_request(conn: Connection[Any], request_id: int) -> str | None:
    """Take a job and return its clear subject: a pending one, or a running one whose worker
    died (a worker holds a session advisory lock on its job, which Postgres releases when the
    worker's connection ends, so a crashed job is taken over and never run twice at once).
    None if another live worker has it or it is over; `release_request` lets it go."""
    locked = conn.execute(
        "SELECT pg_try_advisory_lock(hashtextextended(%s || %s::text, 0))",
        (JOB_LOCK, request_id),
    ).fetchone()
    if locked is None or not locked[0]:
        return None
    row = conn.execute(
        "UPDATE privacy_requests SET status = 'running', started_at = now() "
        "WHERE id = %s AND status IN ('pending', 'running') RETURNING subject",
        (request_id,),
    ).fetchone()
    if row is None:
        release_request(conn, request_id)
        return None
    return str(row[0])


def release_request(conn: Connection[Any], request_id: int) -> None:
    """Let go of a job `claim_request` took."""
    conn.execute(
        "SELECT pg_advisory_unlock(hashtextextended(%s || %s::text, 0))", (JOB_LOCK, request_id)
    )


def finish_request(
    conn: Connection[Any],
    request_id: int,
    status: Status,
    detail: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    """End a request as `done` or `failed`, forgetting its clear subject."""
    row = conn.execute(
        "SELECT status, requested_by, kind FROM privacy_requests WHERE id = %s FOR UPDATE",
        (request_id,),
    ).fetchone()
    if row is None:
        raise InvalidTransition(f"no privacy request {request_id}")
    check_transition(row[0], status)
    _audit(conn, row[1], f"privacy.{row[2]}", request_id, status, {"error": error} if error else {})
    conn.execute(
        "UPDATE privacy_requests SET status = %s, detail = detail || %s, error = %s, "
        "subject = NULL, finished_at = now() WHERE id = %s",
        (status, Jsonb(detail or {}), error, request_id),
    )


def read_request(conn: Connection[Any], request_id: int) -> dict[str, Any] | None:
    """The request as the API shows it (no subject, no hash)."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT id, kind, status, requested_by, id_type, detail, error, created_at, "
            "started_at, finished_at FROM privacy_requests WHERE id = %s",
            (request_id,),
        ).fetchone()
    if row is None:
        return None
    for key in ("created_at", "started_at", "finished_at"):
        row[key] = row[key].isoformat() if row[key] is not None else None
    row["id"] = str(row["id"])
    return row
