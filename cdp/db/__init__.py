"""Postgres plumbing: engines, the table definitions and the migrations."""

from cdp.db.engine import create_engine, ping
from cdp.db.migrate import upgrade

__all__ = ["create_engine", "ping", "upgrade"]
