"""Monthly partitions of the event timeline: created before a batch needs them, dropped by age.

There is no default partition on purpose: a month that had rows in a default partition could never
get its own partition afterwards. Partitions are created in their own short transaction under one
advisory lock, so concurrent processors never race on the DDL.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from psycopg import Connection, sql

__all__ = ["PartitionKeeper", "month_of"]

#: An arbitrary constant naming the one advisory lock that serialises partition DDL.
DDL_LOCK = 4_242_001


def month_of(ms: int) -> tuple[int, int]:
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.year, moment.month


def _bounds(year: int, month: int) -> tuple[datetime, datetime]:
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def partition_name(year: int, month: int) -> str:
    return f"events_{year:04d}_{month:02d}"


class PartitionKeeper:
    """Remembers which months exist so the hot path asks Postgres only for new ones."""

    def __init__(self) -> None:
        self._known: set[tuple[int, int]] = set()

    def ensure(self, conn: Connection[Any], months: Iterable[tuple[int, int]]) -> None:
        """Create the partitions of `months` that are missing (`conn` must be in autocommit)."""
        missing = sorted(set(months) - self._known)
        if not missing:
            return
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (DDL_LOCK,))
            for year, month in missing:
                start, end = _bounds(year, month)
                conn.execute(
                    sql.SQL(
                        "CREATE TABLE IF NOT EXISTS {} PARTITION OF events FOR VALUES FROM ({}) TO ({})"
                    ).format(
                        sql.Identifier(partition_name(year, month)),
                        sql.Literal(start),
                        sql.Literal(end),
                    )
                )
        self._known.update(missing)

    def drop_older_than(self, conn: Connection[Any], cutoff_ms: int) -> list[str]:
        """Drop whole months that ended before `cutoff_ms`; returns the dropped partitions."""
        rows = conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'events'"
        ).fetchall()
        dropped = []
        for (name,) in rows:
            year, month = int(name[7:11]), int(name[12:14])
            _, end = _bounds(year, month)
            if end.timestamp() * 1000 <= cutoff_ms:
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (DDL_LOCK,))
                    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
                self._known.discard((year, month))
                dropped.append(name)
        return dropped
