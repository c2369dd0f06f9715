"""`cdp bench pipeline --statements`: the embedded Postgres loads `pg_stat_statements` when
asked, and the bench reads a database's statement times from it."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from cdp.bench.errors import BenchError
from cdp.bench.statements import LIBRARY, require_statements, statement_times
from cdp.embedded import EmbeddedPostgres

pytestmark = pytest.mark.integration


def test_statement_times_need_the_library_and_count_a_database_s_own_statements(
    tmp_path: Path,
) -> None:
    plain = EmbeddedPostgres(tmp_path / "postgres").start()
    try:
        url = plain.create_database("measured")
        other = plain.create_database("elsewhere")
        with pytest.raises(BenchError, match="shared_preload_libraries"):
            require_statements(url)
    finally:
        plain.stop()

    loaded = EmbeddedPostgres(tmp_path / "postgres", libraries=(LIBRARY,)).start()
    try:
        with psycopg.connect(loaded.url(), autocommit=True) as conn:
            row = conn.execute("SHOW shared_preload_libraries").fetchone()
        assert row is not None
        assert LIBRARY in row[0]
        for dsn in (url, other):
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("CREATE TABLE visits (n int)")
                for n in range(3):
                    conn.execute("INSERT INTO visits VALUES (%s), (%s)", (n, n))
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SELECT count(*) FROM visits")

        found = {s.statement: s for s in statement_times(url)}
    finally:
        loaded.stop()

    inserts = found["INSERT INTO visits VALUES ($1), ($2)"]
    assert (inserts.calls, inserts.rows) == (3, 6), "the other database's inserts are not counted"
    assert inserts.ms > 0
    assert found["SELECT count(*) FROM visits"].calls == 1
