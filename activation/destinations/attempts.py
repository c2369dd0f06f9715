"""The retry history of failing changes in Postgres, so `max_age` and `max_attempts` survive a
worker restart.

`max_age_s` counts from a change's first attempt at this destination, not from its creation
time `at`: a change may wait in `cdp.segments.membership` for long (a destination created later
reads the topic from its start; a stopped worker catches up), and that wait is no attempt at
delivery, so counting it would abort changes the receiver never had a chance to take. Rows are
written only when an attempt fails (a change delivered at the first try costs nothing here) and
removed when the change ends, delivered or aborted. The history is best effort: if Postgres fails,
delivery goes on with what this run knows rather than waiting for the database.
"""

from __future__ import annotations

import contextlib
import logging

import psycopg
from psycopg import AsyncConnection

from cdp.activation.destinations.payload import Change

__all__ = ["KEEP_AFTER_MAX_AGE_S", "forget_attempts", "prune_attempts", "record_failure"]

log = logging.getLogger(__name__)

#: How long past its destination's `max_age_s` a row is kept before `prune_attempts` takes it:
#: rows outlive their change only when a worker stopped between delivering and forgetting, and a
#: worker down for a week giving its one in-flight change a new lifetime is acceptable.
KEEP_AFTER_MAX_AGE_S = 7 * 24 * 3600.0

RECORD = (
    "INSERT INTO destination_retries AS r "
    "(destination, change_id, profile_id, first_attempt_at, attempts) "
    "VALUES (%s, %s, %s, to_timestamp(%s), %s) "
    "ON CONFLICT (destination, change_id) DO UPDATE SET attempts = r.attempts + 1 "
    "RETURNING extract(epoch FROM r.first_attempt_at)::float8, r.attempts"
)


async def record_failure(
    conn: AsyncConnection, destination: str, change: Change, started: float, attempts: int
) -> tuple[float, int]:
    """Count one failed attempt of `change`; its (first attempt, attempts) over every run.

    `started` and `attempts` are this run's, used for a change seen failing the first time, and
    returned as they are when Postgres cannot be reached.
    """
    try:
        cur = await conn.execute(
            RECORD, (destination, change.change_id, change.profile_id, started, attempts)
        )
        row = await cur.fetchone()
    except psycopg.Error as exc:
        log.warning("retry history of %s not recorded: %s", change.change_id, exc)
        return started, attempts
    assert row is not None
    return float(row[0]), int(row[1])


async def forget_attempts(conn: AsyncConnection, destination: str, change_id: str) -> None:
    """Drop the history of a change that ended; a failure leaves it to `prune_attempts`."""
    with contextlib.suppress(psycopg.Error):
        await conn.execute(
            "DELETE FROM destination_retries WHERE destination = %s AND change_id = %s",
            (destination, change_id),
        )


async def prune_attempts(conn: AsyncConnection, destination: str, max_age_s: float) -> int:
    """Remove histories older than `max_age_s + KEEP_AFTER_MAX_AGE_S`; how many."""
    cur = await conn.execute(
        "DELETE FROM destination_retries WHERE destination = %s "
        "AND first_attempt_at < now() - make_interval(secs => %s)",
        (destination, max_age_s + KEEP_AFTER_MAX_AGE_S),
    )
    return cur.rowcount
