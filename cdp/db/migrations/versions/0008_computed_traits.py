"""Configurable computed traits: versioned definitions and per-profile aggregate state.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

NOW = sa.func.now()

#: Adds two tallies `{value-as-jsonb-text: count}`; NULL is the empty tally. PL/pgSQL, like
#: `cdp_trait_value`: its plans are cached per session, where a SQL function with subqueries is
#: planned on every call (measured: half the Postgres CPU of a batch upsert).
COUNTS_ADD = """
CREATE FUNCTION cdp_counts_add(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  k text;
  v text;
  result jsonb := a;
BEGIN
  IF a IS NULL THEN RETURN b; END IF;
  IF b IS NULL THEN RETURN a; END IF;
  FOR k, v IN SELECT * FROM jsonb_each_text(b) LOOP
    result := result || jsonb_build_object(k, coalesce((result ->> k)::bigint, 0) + v::bigint);
  END LOOP;
  RETURN result;
END
$$
"""
COUNTS_SUM = "CREATE AGGREGATE cdp_counts_sum(jsonb) (SFUNC = cdp_counts_add, STYPE = jsonb)"
#: A trait's value from its state (the generated column `computed_trait_values.value`); ties of
#: most_frequent go to the smallest value text in C order.
TRAIT_VALUE = """
CREATE FUNCTION cdp_trait_value(
  kind text, n bigint, total numeric, low numeric, high numeric,
  f_value jsonb, l_value jsonb, counts jsonb
) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  CASE kind
    WHEN 'counter' THEN RETURN to_jsonb(n);
    WHEN 'sum' THEN RETURN to_jsonb(total);
    WHEN 'avg' THEN RETURN to_jsonb(trim_scale(round(total / nullif(n, 0), 10)));
    WHEN 'min' THEN RETURN to_jsonb(low);
    WHEN 'max' THEN RETURN to_jsonb(high);
    WHEN 'first' THEN RETURN f_value;
    WHEN 'last' THEN RETURN l_value;
    WHEN 'most_frequent' THEN RETURN (
      SELECT e.key::jsonb FROM jsonb_each_text(counts) e
      ORDER BY e.value::bigint DESC, e.key COLLATE "C" LIMIT 1);
    WHEN 'unique_list' THEN RETURN (
      SELECT jsonb_agg(k::jsonb ORDER BY k COLLATE "C") FROM jsonb_object_keys(counts) k);
    WHEN 'unique_count' THEN RETURN to_jsonb((SELECT count(*) FROM jsonb_object_keys(counts) k));
    ELSE RETURN NULL;
  END CASE;
END
$$
"""
VALUE = "cdp_trait_value(kind, n, total, low, high, first_value, last_value, counts)"


def upgrade() -> None:
    op.execute(COUNTS_ADD)
    op.execute(COUNTS_SUM)
    op.execute(TRAIT_VALUE)
    op.create_table(
        "computed_traits",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("definition", JSONB, nullable=False),
        sa.Column("state", sa.Text, nullable=False, server_default="active"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.create_table(
        "computed_trait_values",
        sa.Column("profile_id", sa.BigInteger, primary_key=True),
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.Column("total", sa.Numeric),
        sa.Column("low", sa.Numeric),
        sa.Column("high", sa.Numeric),
        sa.Column("first_at", sa.DateTime(timezone=True)),
        sa.Column("first_key", sa.Text(collation="C")),
        sa.Column("first_value", JSONB),
        sa.Column("last_at", sa.DateTime(timezone=True)),
        sa.Column("last_key", sa.Text(collation="C")),
        sa.Column("last_value", JSONB),
        sa.Column("counts", JSONB),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("value", JSONB, sa.Computed(VALUE, persisted=True)),
    )
    op.create_index("computed_trait_values_name", "computed_trait_values", ["name"])
    op.create_index("computed_trait_values_expires", "computed_trait_values", ["expires_at"])


def downgrade() -> None:
    op.drop_table("computed_trait_values")
    op.drop_table("computed_traits")
    op.execute("DROP FUNCTION cdp_trait_value")
    op.execute("DROP AGGREGATE cdp_counts_sum(jsonb)")
    op.execute("DROP FUNCTION cdp_counts_add")
