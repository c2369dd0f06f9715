"""Per destination: entries held back for want of consent, and the retry history of changes.

`destination_pending` is the grant side of `destination_members`: a (segment, profile) pair the
destination saw enter (or exit by revocation) while the profile lacked a required purpose; the
consent sweep delivers an entry for it once the purposes are granted. `destination_retries`
keeps a failing change's first attempt and attempt count, so a worker restart does not give it
a new lifetime.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

NOW = sa.func.now()


def upgrade() -> None:
    op.create_table(
        "destination_pending",
        sa.Column("destination", sa.Text, primary_key=True),
        sa.Column("segment", sa.Text, primary_key=True),
        sa.Column("profile_id", sa.BigInteger, primary_key=True),
        sa.Column("change_id", sa.Text, nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.create_table(
        "destination_retries",
        sa.Column("destination", sa.Text, primary_key=True),
        sa.Column("change_id", sa.Text, primary_key=True),
        sa.Column("profile_id", sa.BigInteger, nullable=False),
        sa.Column("first_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("destination_retries")
    op.drop_table("destination_pending")
