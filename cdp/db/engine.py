"""SQLAlchemy engines over psycopg 3."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cdp.settings import Settings

__all__ = ["create_engine", "ping"]


def create_engine(settings: Settings, *, pool_size: int = 5) -> Engine:
    """An engine for the configured database; connections are checked before use."""
    return sa.create_engine(
        settings.require_database_url(),
        pool_size=pool_size,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 5},
    )


def ping(engine: Engine) -> None:
    """Run ``SELECT 1``; raises the driver's error when Postgres is unreachable."""
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
