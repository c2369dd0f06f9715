"""Destinations, their delivery status, and which profiles each consent-gated one holds.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

NOW = sa.func.now()


def upgrade() -> None:
    op.create_table(
        "destinations",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("definition", JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.create_table(
        "destination_status",
        sa.Column("destination", sa.Text, primary_key=True),
        sa.Column("delivered", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("aborted", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("suppressed", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("retrying", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Column("last_error_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.create_table(
        "destination_members",
        sa.Column("destination", sa.Text, primary_key=True),
        sa.Column("segment", sa.Text, primary_key=True),
        sa.Column("profile_id", sa.BigInteger, primary_key=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )


def downgrade() -> None:
    op.drop_table("destination_members")
    op.drop_table("destination_status")
    op.drop_table("destinations")
