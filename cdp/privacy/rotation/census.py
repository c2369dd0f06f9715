"""How many stored values are under each data key, table by table.

It reads every row that can hold a sealed value (the timeline included), so it is for an
operator's question (can the old key be dropped?) and a rotation's last check, not a hot path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg import Connection, sql

__all__ = ["CLEAR", "SEALED_COLUMNS", "census", "not_under"]

#: The key id the census gives identifiers stored in clear (a database from before 0009).
CLEAR = "(clear)"

#: Every column that can hold sealed strings, as a text expression per table. A new column that
#: may hold one belongs here (and in `cdp.privacy.rotation.steps`); a unit test checks that every
#: JSON and bytea column of the schema is either listed or known to hold none.
SEALED_COLUMNS: Mapping[str, str] = {
    "profiles": "traits::text",
    "groups": "traits::text",
    "computed_trait_values": "concat_ws(' ', first_value::text, last_value::text, counts::text)",
    "events": "concat_ws(' ', name, properties::text, context::text)",
    "outbox": "encode(value, 'escape')",
}
_KEY_IN_TEXT = r"cdp:enc:v1:([A-Za-z0-9_.-]+):"


def census(conn: Connection[Any]) -> dict[str, dict[str, int]]:
    """Per table, per data key id: identifier rows, or sealed strings in the other tables."""
    counts: dict[str, dict[str, int]] = {}
    rows = conn.execute(
        "SELECT coalesce(key_id, %s), count(*) FROM identifiers GROUP BY 1 ORDER BY 1", (CLEAR,)
    ).fetchall()
    if rows:
        counts["identifiers"] = {str(k): int(n) for k, n in rows}
    for table, text in SEALED_COLUMNS.items():
        query = sql.SQL(
            "SELECT m[1], count(*) FROM {}, regexp_matches({}, %s, 'g') AS m GROUP BY 1 ORDER BY 1"
        ).format(sql.Identifier(table), sql.SQL(text))
        rows = conn.execute(query, (_KEY_IN_TEXT,)).fetchall()
        if rows:
            counts[table] = {str(k): int(n) for k, n in rows}
    return counts


def not_under(counts: Mapping[str, Mapping[str, int]], key_id: str) -> dict[str, int]:
    """Per key id other than `key_id`, the values of `counts` under it, all tables together."""
    total: dict[str, int] = {}
    for by_key in counts.values():
        for key, n in by_key.items():
            if key != key_id and n:
                total[key] = total.get(key, 0) + n
    return total
