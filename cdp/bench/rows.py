"""The rows a run wrote, per table, from Postgres's cumulative statistics of the run's own
database: what the definitions' cost follows (see the README's roadmap)."""

from __future__ import annotations

import time
from typing import Any

import psycopg

from cdp.bench.errors import BenchError

__all__ = ["rows_written"]

#: Inserted, updated and deleted rows per table; a partition counts for its parent table.
ROWS_WRITTEN = (
    "SELECT coalesce(parent.relname, s.relname), "
    "sum(s.n_tup_ins + s.n_tup_upd + s.n_tup_del)::bigint "
    "FROM pg_stat_user_tables s "
    "LEFT JOIN pg_inherits i ON i.inhrelid = s.relid "
    "LEFT JOIN pg_class parent ON parent.oid = i.inhparent "
    "GROUP BY 1"
)
#: Client sessions on the database besides the caller's: a backend reports its counts to the
#: cumulative statistics when it exits, so they are complete once there are none.
OTHER_SESSIONS = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
)
#: How long the processors' sessions may take to end after their processes stopped.
SETTLE_S = 10.0
SETTLE_TICK_S = 0.05


def rows_written(dsn: str, settle_s: float = SETTLE_S) -> dict[str, int]:
    """Rows inserted, updated or deleted per table of the database at `dsn` since it was made,
    read once no other client session is connected to it; `BenchError` if one still is after
    `settle_s`."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        _wait_alone(conn, settle_s)
        conn.execute("SELECT pg_stat_clear_snapshot()")
        rows = conn.execute(ROWS_WRITTEN).fetchall()
    return {str(table): int(count) for table, count in rows if count}


def _wait_alone(conn: psycopg.Connection[Any], settle_s: float) -> None:
    deadline = time.monotonic() + settle_s
    while True:
        row = conn.execute(OTHER_SESSIONS).fetchone()
        if row is None or row[0] == 0:
            return
        if time.monotonic() > deadline:
            raise BenchError(f"{row[0]} other sessions still on the bench database")
        time.sleep(SETTLE_TICK_S)
