"""The schema of cdp's Postgres store, as SQLAlchemy Core tables (no ORM in any hot path).

The Alembic migrations under `migrations/versions` create exactly these tables; a test compares the
two so that neither drifts.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["metadata", "sources"]

metadata = sa.MetaData()

sources = sa.Table(
    "sources",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False, unique=True),
    sa.Column("write_key_hash", sa.Text, nullable=False, unique=True),
    sa.Column("write_key_hint", sa.Text, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column("disabled_at", sa.DateTime(timezone=True)),
)
