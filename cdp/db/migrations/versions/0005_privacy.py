"""Data subject requests (the audit of each one, and deletion jobs), suppression hashes, drops.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

NOW = sa.func.now()


def upgrade() -> None:
    op.create_table(
        "privacy_requests",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("requested_by", sa.Text, nullable=False),
        sa.Column("id_type", sa.Text, nullable=False),
        sa.Column("id_hash", sa.Text, nullable=False),
        sa.Column("subject", sa.Text),
        sa.Column("detail", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("error", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
    )
    op.create_index("privacy_requests_status", "privacy_requests", ["status"])
    op.create_table(
        "privacy_suppressions",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("id_hash", sa.Text, nullable=False, unique=True),
        sa.Column("request_id", sa.BigInteger),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.create_table(
        "privacy_drops",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("id_hash", sa.Text, nullable=False),
        sa.Column("events", sa.Integer, nullable=False),
        sa.Column("dropped_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )


def downgrade() -> None:
    for table in ("privacy_drops", "privacy_suppressions", "privacy_requests"):
        op.drop_table(table)
