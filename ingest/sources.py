"""Sources and their write keys, kept hashed in Postgres.

A write key is 24 random bytes, so a plain SHA-256 of it is as safe to store as a slow password
hash and lets the collector look it up through a unique index.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from cdp.db.tables import sources
from cdp.errors import CdpError

__all__ = [
    "Source",
    "SourceCache",
    "create_source",
    "disable_source",
    "find_source",
    "hash_write_key",
    "list_sources",
]


@dataclass(frozen=True, slots=True)
class Source:
    id: str
    name: str
    enabled: bool
    write_key_hint: str
    created_at: datetime | None = None


class SourceExists(CdpError):
    """A source of that name is already registered."""


def hash_write_key(write_key: str) -> str:
    return hashlib.sha256(write_key.encode()).hexdigest()


def create_source(engine: Engine, name: str) -> tuple[Source, str]:
    """Register a source; returns it with its write key, which is shown this once only."""
    write_key = secrets.token_urlsafe(24)
    source_id = "src_" + secrets.token_hex(8)
    hint = write_key[:4] + "…"
    try:
        with engine.begin() as conn:
            conn.execute(
                sources.insert().values(
                    id=source_id,
                    name=name,
                    write_key_hash=hash_write_key(write_key),
                    write_key_hint=hint,
                )
            )
    except IntegrityError as exc:
        raise SourceExists(f"a source named {name!r} exists already") from exc
    return Source(source_id, name, True, hint), write_key


def list_sources(engine: Engine) -> list[Source]:
    cols = (
        sources.c.id,
        sources.c.name,
        sources.c.enabled,
        sources.c.write_key_hint,
        sources.c.created_at,
    )
    with engine.connect() as conn:
        rows = conn.execute(sa.select(*cols).order_by(sources.c.created_at)).all()
    return [Source(*row) for row in rows]


def disable_source(engine: Engine, name_or_id: str) -> bool:
    """Disable a source by name or id; False when there is no such source."""
    with engine.begin() as conn:
        result = conn.execute(
            sources.update()
            .where(sa.or_(sources.c.name == name_or_id, sources.c.id == name_or_id))
            .values(enabled=False, disabled_at=sa.func.now())
        )
    return result.rowcount > 0


def find_source(engine: Engine, write_key: str) -> Source | None:
    """The source holding `write_key`, enabled or not."""
    cols = (sources.c.id, sources.c.name, sources.c.enabled, sources.c.write_key_hint)
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(*cols).where(sources.c.write_key_hash == hash_write_key(write_key))
        ).first()
    return Source(*row) if row else None


class SourceCache:
    """Write key → source, remembered for `ttl` seconds so most requests touch no database.

    A disabled source is refused within `ttl` seconds. Unknown keys are remembered too, in a
    bounded map, so a client hammering with a bad key does not hammer Postgres.
    """

    MAX_ENTRIES = 10_000

    def __init__(self, engine: Engine, ttl: float) -> None:
        self._engine = engine
        self._ttl = ttl
        self._entries: dict[str, tuple[float, Source | None]] = {}

    async def resolve(self, write_key: str) -> Source | None:
        now = time.monotonic()
        hit = self._entries.get(write_key)
        if hit is not None and hit[0] > now:
            return hit[1]
        source = await asyncio.to_thread(find_source, self._engine, write_key)
        if len(self._entries) >= self.MAX_ENTRIES:
            self._entries.clear()
        self._entries[write_key] = (now + self._ttl, source)
        return source
