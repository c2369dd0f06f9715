"""Segments (versioned definitions), their memberships, window checks; outbox tombstones.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

NOW = sa.func.now()


def upgrade() -> None:
    op.create_table(
        "segments",
        sa.Column("slug", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("definition", JSONB, nullable=False),
        sa.Column("state", sa.Text, nullable=False, server_default="active"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.create_table(
        "segment_memberships",
        sa.Column("slug", sa.Text, primary_key=True),
        sa.Column("profile_id", sa.BigInteger, primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.create_index("segment_memberships_profile", "segment_memberships", ["profile_id"])
    op.create_table(
        "segment_checks",
        sa.Column("slug", sa.Text, primary_key=True),
        sa.Column("profile_id", sa.BigInteger, primary_key=True),
        sa.Column("check_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("segment_checks_due", "segment_checks", ["check_at"])
    op.alter_column("outbox", "value", nullable=True)


def downgrade() -> None:
    op.alter_column("outbox", "value", nullable=False)
    for table in ("segment_checks", "segment_memberships", "segments"):
        op.drop_table(table)
