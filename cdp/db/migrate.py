"""Applies the Alembic migrations shipped inside the package."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from cdp.settings import Settings

__all__ = ["upgrade"]

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the packaged migrations and `url`."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["url"] = url
    return cfg


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Bring the database schema up to `revision`; a no-op when it is already there."""
    command.upgrade(alembic_config(settings.require_database_url()), revision)
