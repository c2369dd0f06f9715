"""The pipeline bench checkpoints Postgres before a timed run, and goes on without it where the
bench's role may not."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from psycopg import sql

from cdp.bench.throughput import checkpoint
from tests.conftest import wait_for


def requested_checkpoints(conn: psycopg.Connection[Any]) -> int:
    conn.execute("SELECT pg_stat_clear_snapshot()")
    row = conn.execute("SELECT num_requested FROM pg_stat_checkpointer").fetchone()
    assert row is not None
    return int(row[0])


def test_a_timed_run_starts_after_a_checkpoint(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        before = requested_checkpoints(conn)
        checkpoint(conn)
        # the checkpointer reports its statistics a moment after it releases the CHECKPOINT
        wait_for(
            lambda: requested_checkpoints(conn) >= before + 1,
            timeout=10,
            what="the checkpoint in pg_stat_checkpointer",
        )


def test_a_role_that_may_not_checkpoint_goes_on_without(database_url: str) -> None:
    role = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        try:
            dsn = psycopg.conninfo.make_conninfo(database_url, user=role)
            with psycopg.connect(dsn, autocommit=True) as conn:
                checkpoint(conn)
                assert conn.execute("SELECT 1").fetchone() == (1,)
        finally:
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
