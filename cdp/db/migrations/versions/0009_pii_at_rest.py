"""PII at rest: encrypted identifier values beside their keyed hashes, the database's PII mode,
and data key rotations.

A database that already holds identifiers holds them in clear: it is marked so (``encrypted``
false, no hash check yet), and the processor refuses to mix modes until `cdp keys
rotate-data-key` has hashed and encrypted them.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

NOW = sa.func.now()


def upgrade() -> None:
    op.add_column("identifiers", sa.Column("value_enc", sa.LargeBinary))
    op.add_column("identifiers", sa.Column("key_id", sa.Text))
    op.create_table(
        "pii_state",
        sa.Column("id", sa.SmallInteger, primary_key=True),
        sa.Column("encrypted", sa.Boolean, nullable=False),
        sa.Column("hash_check", sa.Text),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.CheckConstraint("id = 1", name="pii_state_one_row"),
    )
    op.execute(
        "INSERT INTO pii_state (id, encrypted) SELECT 1, false "
        "WHERE EXISTS (SELECT 1 FROM identifiers)"
    )
    op.create_table(
        "data_key_rotations",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("key_id", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("progress", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("requested_by", sa.Text, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    op.drop_table("data_key_rotations")
    op.drop_table("pii_state")
    op.drop_column("identifiers", "key_id")
    op.drop_column("identifiers", "value_enc")
