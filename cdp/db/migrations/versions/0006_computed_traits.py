"""Configurable computed traits: versioned definitions and per-profile aggregate state.

Revision ID: 0006
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None

NOW = sa.func.now()

#: Adds two tallies `{value-as-jsonb-text: count}`; NULL is the empty tally.
COUNTS_ADD = """
CREATE FUNCTION cdp_counts_add(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN a IS NULL THEN b WHEN b IS NULL THEN a ELSE (
    SELECT jsonb_object_agg(u.key, u.total) FROM (
      SELECT e.key, sum(e.value::bigint) AS total
      FROM (SELECT * FROM jsonb_each_text(a) UNION ALL SELECT * FROM jsonb_each_text(b)) e
      GROUP BY e.key) u) END
$$
"""
COUNTS_SUM = "CREATE AGGREGATE cdp_counts_sum(jsonb) (SFUNC = cdp_counts_add, STYPE = jsonb)"
#: A trait's value from its state; ties of most_frequent go to the smallest value text (C order).
TRAIT_VALUE = """
CREATE FUNCTION cdp_trait_value(
  kind text, n bigint, total numeric, low numeric, high numeric,
  f_value jsonb, l_value jsonb, counts jsonb
) RETURNS jsonb LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE kind
    WHEN 'counter' THEN to_jsonb(n)
    WHEN 'sum' THEN to_jsonb(total)
    WHEN 'avg' THEN to_jsonb(trim_scale(round(total / nullif(n, 0), 10)))
    WHEN 'min' THEN to_jsonb(low)
    WHEN 'max' THEN to_jsonb(high)
    WHEN 'first' THEN f_value
    WHEN 'last' THEN l_value
    WHEN 'most_frequent' THEN (
      SELECT e.key::jsonb FROM jsonb_each_text(counts) e
      ORDER BY e.value::bigint DESC, e.key COLLATE "C" LIMIT 1)
    WHEN 'unique_list' THEN (
      SELECT jsonb_agg(k::jsonb ORDER BY k COLLATE "C") FROM jsonb_object_keys(counts) k)
    WHEN 'unique_count' THEN to_jsonb((SELECT count(*) FROM jsonb_object_keys(counts) k))
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
