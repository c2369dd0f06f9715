"""Where Postgres spent a run's time, statement by statement (`cdp bench pipeline
--statements`), from `pg_stat_statements`.

The extension's counters are server-wide and survive across databases, so a run's figures are
those of its own database (each run gets a fresh one, `cdp.bench.environment.bench_database`),
read once its processors have stopped. Statements are grouped by the start of their text: the
processor compiles one statement per shape (a `MERGE` per set of computed traits a batch hits,
say), and what a reader wants is the cost of the step, not of each shape.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import psycopg

from cdp.bench.errors import BenchError

__all__ = ["LIBRARY", "StatementTime", "require_statements", "statement_times", "top_statements"]

LIBRARY = "pg_stat_statements"
#: Characters of a statement's text that name it: enough to tell the processor's statements
#: apart (they differ within their first 40), short enough for one line of the report.
LABEL_CHARS = 64
#: Statements reported by name; the time of the others is summed into one "other" entry.
SHOWN = 12
OTHER = "other statements"

_TIMES = (
    "SELECT s.query, s.calls, s.rows, s.total_exec_time FROM pg_stat_statements s "
    "JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database()"
)


@dataclass(frozen=True, slots=True)
class StatementTime:
    """The statements whose text starts with `statement`: how often they ran, the rows they
    returned or changed, and their execution time."""

    statement: str
    calls: int
    rows: int
    ms: float


def require_statements(dsn: str) -> None:
    """Make the `pg_stat_statements` view readable in the database at `dsn`; `BenchError` with
    what to do when the server has not loaded the library."""
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"CREATE EXTENSION IF NOT EXISTS {LIBRARY}")
            conn.execute("SELECT 1 FROM pg_stat_statements LIMIT 1")
    except psycopg.Error as exc:
        raise BenchError(
            f"--statements needs {LIBRARY} in the server's shared_preload_libraries "
            f"(the embedded Postgres loads it by itself; an external server must be "
            f"configured so): {str(exc).strip()}"
        ) from exc


def statement_times(dsn: str, shown: int = SHOWN) -> tuple[StatementTime, ...]:
    """The execution time of the statements run on the database at `dsn`, by label, as
    `top_statements` ranks them."""
    require_statements(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(_TIMES).fetchall()
    return top_statements(rows, shown)


def top_statements(rows: list[tuple[Any, ...]], shown: int = SHOWN) -> tuple[StatementTime, ...]:
    """`rows` of (query text, calls, rows, total ms) summed by `label`, largest time first; past
    the first `shown`, one `OTHER` entry holds the rest."""
    summed: dict[str, list[float]] = {}
    for query, calls, count, ms in rows:
        totals = summed.setdefault(label(str(query)), [0, 0, 0.0])
        totals[0] += int(calls)
        totals[1] += int(count)
        totals[2] += float(ms)
    ranked = sorted(summed.items(), key=lambda item: (-item[1][2], item[0]))
    found = [StatementTime(name, int(c), int(r), ms) for name, (c, r, ms) in ranked]
    if len(found) <= shown:
        return tuple(found)
    rest = found[shown:]
    other = StatementTime(
        OTHER, sum(s.calls for s in rest), sum(s.rows for s in rest), sum(s.ms for s in rest)
    )
    return (*found[:shown], other)


def label(query: str) -> str:
    """The first `LABEL_CHARS` characters of `query` with its whitespace collapsed."""
    flat = re.sub(r"\s+", " ", query).strip()
    return flat if len(flat) <= LABEL_CHARS else flat[: LABEL_CHARS - 1] + "…"
