"""One outbox row per membership change: the relay fans it out to the segment's topic too.

A membership change was queued as two rows, one for `cdp.segments.membership` and one for the
compacted `cdp.segment.<slug>` (the same value, or a tombstone on exit): a fifth of the
processor's Postgres time with 50 segments went into the second rows (`cdp bench pipeline
--segments 50 --computed-traits 20`). A row now names the second topic in `fanout_topic`, and
`fanout_tombstone` says whether a tombstone goes there instead of the value.

The downgrade turns each fanned-out row back into a second row; the new rows come after every
existing one, in id order, so each topic still gets each profile's records in order.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("fanout_topic", sa.Text))
    op.add_column(
        "outbox",
        sa.Column("fanout_tombstone", sa.Boolean, nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.execute(
        "INSERT INTO outbox (topic, key, value, created_at) "
        "SELECT fanout_topic, key, CASE WHEN fanout_tombstone THEN NULL ELSE value END, created_at "
        "FROM outbox WHERE fanout_topic IS NOT NULL ORDER BY id"
    )
    op.drop_column("outbox", "fanout_tombstone")
    op.drop_column("outbox", "fanout_topic")
