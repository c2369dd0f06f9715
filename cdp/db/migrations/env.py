"""Alembic environment: the URL comes from the caller (`cdp.db.migrate`), never from a file."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from cdp.db.tables import metadata

url = context.config.attributes["url"]
engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
