"""Profiles, identifiers, merges, groups, the event timeline, dedupe, consumer offsets, outbox.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

NOW = sa.func.now()
EMPTY = sa.text("'{}'::jsonb")


def upgrade() -> None:
    op.create_table(
        "profiles",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("traits", JSONB, nullable=False, server_default=EMPTY),
        sa.Column("trait_times", JSONB, nullable=False, server_default=EMPTY),
        sa.Column("computed", JSONB, nullable=False, server_default=EMPTY),
        sa.Column("merged_into", sa.BigInteger, sa.ForeignKey("profiles.id")),
        sa.Column("merge_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.create_table(
        "identifiers",
        sa.Column("id_type", sa.Text, primary_key=True),
        sa.Column("id_value", sa.Text, primary_key=True),
        sa.Column("profile_id", sa.BigInteger, nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("identifiers_profile", "identifiers", ["profile_id"])
    op.create_table(
        "merges",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("from_profile", sa.BigInteger, nullable=False),
        sa.Column("into_profile", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("message_id", sa.Text),
        sa.Column("merged_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.create_index("merges_into", "merges", ["into_profile"])
    op.create_index("merges_from", "merges", ["from_profile"])
    op.create_table(
        "groups",
        sa.Column("group_id", sa.Text, primary_key=True),
        sa.Column("traits", JSONB, nullable=False, server_default=EMPTY),
        sa.Column("trait_times", JSONB, nullable=False, server_default=EMPTY),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.create_table(
        "group_members",
        sa.Column("group_id", sa.Text, primary_key=True),
        sa.Column("profile_id", sa.BigInteger, primary_key=True),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("group_members_profile", "group_members", ["profile_id"])
    op.execute(
        """
        CREATE TABLE events (
            profile_id bigint NOT NULL,
            message_id text NOT NULL,
            type text NOT NULL,
            name text,
            event_time timestamptz NOT NULL,
            received_at timestamptz NOT NULL,
            source_id text,
            properties jsonb NOT NULL DEFAULT '{}'::jsonb,
            context jsonb NOT NULL DEFAULT '{}'::jsonb
        ) PARTITION BY RANGE (event_time)
        """
    )
    op.execute("CREATE INDEX events_profile_time ON events (profile_id, event_time DESC)")
    op.create_table(
        "processed_messages",
        sa.Column("message_id", sa.Text, primary_key=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.create_index("processed_messages_at", "processed_messages", ["processed_at"])
    op.create_table(
        "consumer_offsets",
        sa.Column("consumer_group", sa.Text, primary_key=True),
        sa.Column("topic", sa.Text, primary_key=True),
        sa.Column("partition", sa.Integer, primary_key=True),
        sa.Column("next_offset", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("key", sa.LargeBinary),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )


def downgrade() -> None:
    for table in (
        "outbox",
        "consumer_offsets",
        "processed_messages",
        "events",
        "group_members",
        "groups",
        "merges",
        "identifiers",
        "profiles",
    ):
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
