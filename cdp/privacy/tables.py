"""Which tables hold rows about a profile: the known ones, and any other with a `profile_id`.

The extension point for tables other parts of cdp add (deliveries, for one): a table in the
schema with a ``profile_id`` column is exported and purged by profile id without a change here.
"""

from __future__ import annotations

from typing import Any

from psycopg import Connection

__all__ = ["HANDLED", "other_profile_tables"]

#: Tables the export and the purge treat one by one.
HANDLED = frozenset(
    {"events", "identifiers", "group_members", "segment_memberships", "segment_checks"}
)


def other_profile_tables(conn: Connection[Any]) -> list[str]:
    """Tables of the current schema with a ``profile_id`` column, besides `HANDLED` (and
    besides partitions, which their parent covers)."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema() "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'profile_id' AND NOT a.attisdropped "
        "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY c.relname"
    ).fetchall()
    return [r[0] for r in rows if r[0] not in HANDLED]
