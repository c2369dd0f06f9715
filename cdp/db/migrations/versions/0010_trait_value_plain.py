"""Cheaper upserts of computed-trait state: the generated `value` computed in plain SQL where it
can be, and the expiry index holding only windowed states.

`computed_trait_values.value` was `cdp_trait_value(...)` for every row: a PL/pgSQL call per
upserted row, and a query (with its executor start-up) per tally kind. It costed about a quarter
of the processor's batch upsert (`cdp bench pipeline --segments 50 --computed-traits 20`). Now
counters, sums, averages, minima, maxima, first and last values and unique counts are plain
expressions, most_frequent a PL/pgSQL loop without a query, and only unique_list (and anything
unusual: NULL or non-finite numbers) still calls `cdp_trait_value`. The values are the same,
text for text: jsonb of a finite numeric is the numeric's text read as jsonb.

Most states have no window, so no `expires_at`: the index of the scheduler's expiry scan
(`expires_at <= now`) keeps only the rows with one.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

#: The most frequent value of a tally (ties: the smallest value text in C order), as
#: `cdp_trait_value` gives it, looping over `$.keyvalue()` instead of querying `jsonb_each_text`.
MOST_FREQUENT = """
CREATE FUNCTION cdp_most_frequent(counts jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  pairs jsonb := jsonb_path_query_array(counts, '$.keyvalue()');
  best text;
  best_n bigint;
  k text;
  c bigint;
BEGIN
  FOR i IN 0 .. coalesce(jsonb_array_length(pairs), 0) - 1 LOOP
    k := pairs -> i ->> 'key';
    c := (pairs -> i ->> 'value')::bigint;
    IF best IS NULL OR c > best_n OR (c = best_n AND k COLLATE "C" < best COLLATE "C") THEN
      best := k;
      best_n := c;
    END IF;
  END LOOP;
  RETURN best::jsonb;
END
$$
"""
OLD_VALUE = "cdp_trait_value(kind, n, total, low, high, first_value, last_value, counts)"


def _finite(column: str, value: str) -> str:
    """`value` as jsonb when `column` is a finite number, else what `cdp_trait_value` says."""
    return (
        f"CASE WHEN {column} > '-Infinity' AND {column} < 'Infinity' "
        f"THEN ({value})::text::jsonb ELSE {OLD_VALUE} END"
    )


VALUE = (
    "CASE kind"
    " WHEN 'counter' THEN n::text::jsonb"
    f" WHEN 'sum' THEN {_finite('total', 'total')}"
    f" WHEN 'avg' THEN {_finite('total', 'trim_scale(round(total / nullif(n, 0), 10))')}"
    f" WHEN 'min' THEN {_finite('low', 'low')}"
    f" WHEN 'max' THEN {_finite('high', 'high')}"
    " WHEN 'first' THEN first_value"
    " WHEN 'last' THEN last_value"
    " WHEN 'unique_count' THEN"
    " coalesce(jsonb_array_length(jsonb_path_query_array(counts, '$.*')), 0)::text::jsonb"
    " WHEN 'most_frequent' THEN cdp_most_frequent(counts)"
    f" ELSE {OLD_VALUE} END"
)


def _value_column(expression: str) -> None:
    op.execute(
        "ALTER TABLE computed_trait_values DROP COLUMN value, "
        f"ADD COLUMN value jsonb GENERATED ALWAYS AS ({expression}) STORED"
    )


def upgrade() -> None:
    op.execute(MOST_FREQUENT)
    _value_column(VALUE)
    op.drop_index("computed_trait_values_expires", "computed_trait_values")
    op.create_index(
        "computed_trait_values_expires",
        "computed_trait_values",
        ["expires_at"],
        postgresql_where=sa.text("expires_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("computed_trait_values_expires", "computed_trait_values")
    op.create_index("computed_trait_values_expires", "computed_trait_values", ["expires_at"])
    _value_column(OLD_VALUE)
    op.execute("DROP FUNCTION cdp_most_frequent")
