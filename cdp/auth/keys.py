"""API keys: created once, shown once, stored as a SHA-256 hash, looked up by their id.

A key reads ``cdp_<key id>_<secret>``. The key id (12 hex digits) is not secret: it names the key
in listings and in the audit log, and it lets a lookup find the one row to compare against. The
secret is 32 random bytes, so the stored hash is compared with `hmac.compare_digest`.

Why SHA-256 and not bcrypt or argon2: those are slow on purpose to make guessing a *human-chosen*
password expensive. A key here has 256 bits of randomness, so no guessing attack on its hash is
feasible at any speed, while a slow hash would add tens of milliseconds of CPU to every API
request. (GitHub and Stripe store their tokens the same way.)
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from cdp.auth.errors import KeyExists
from cdp.auth.roles import Role
from cdp.db.tables import api_keys

__all__ = ["ApiKey", "create_key", "find_key", "hash_key", "list_keys", "revoke_key"]

KEY_PREFIX = "cdp_"
#: 6 random bytes: collisions among a deployment's few hundred keys are negligible (and refused
#: by the primary key if they happen), and the id stays short enough to read in a listing.
KEY_ID_BYTES = 6
#: 32 random bytes (256 bits): beyond brute force, which is what lets a fast hash be safe.
SECRET_BYTES = 32
_KEY = re.compile(r"cdp_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key, without its secret."""

    key_id: str
    name: str
    roles: frozenset[Role]
    created_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def prefix(self) -> str:
        """What a listing shows of the key: enough to recognise it, nothing to use."""
        return f"{KEY_PREFIX}{self.key_id}_…"

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def hash_key(key: str) -> str:
    """The hex SHA-256 of `key`, as stored."""
    return hashlib.sha256(key.encode()).hexdigest()


def _roles(stored: Iterable[str]) -> frozenset[Role]:
    """Stored role names as roles; a name this version does not know grants nothing."""
    return frozenset(Role(r) for r in stored if r in Role.__members__.values())


def create_key(engine: Engine, name: str, roles: Iterable[Role]) -> tuple[ApiKey, str]:
    """Store a new key holding `roles`; returns it and the key itself, shown this once only."""
    held = frozenset(roles)
    if not held:
        raise ValueError("an API key needs at least one role")
    key_id = secrets.token_hex(KEY_ID_BYTES)
    key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(SECRET_BYTES)}"
    try:
        with engine.begin() as conn:
            conn.execute(
                api_keys.insert().values(
                    key_id=key_id,
                    name=name,
                    key_hash=hash_key(key),
                    roles=sorted(r.value for r in held),
                )
            )
    except IntegrityError as exc:
        raise KeyExists(f"an API key named {name!r} exists already") from exc
    return ApiKey(key_id, name, held), key


def list_keys(engine: Engine) -> list[ApiKey]:
    """Every key, revoked ones included, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                api_keys.c.key_id,
                api_keys.c.name,
                api_keys.c.roles,
                api_keys.c.created_at,
                api_keys.c.revoked_at,
            ).order_by(api_keys.c.created_at, api_keys.c.key_id)
        ).all()
    return [ApiKey(k, n, _roles(r), c, v) for k, n, r, c, v in rows]


def revoke_key(engine: Engine, id_or_name: str) -> bool:
    """Revoke the active key with that id or name; False when there is none.

    Refused from the next request on: keys are looked up on every request, not cached.
    """
    with engine.begin() as conn:
        result = conn.execute(
            api_keys.update()
            .where(
                sa.or_(api_keys.c.key_id == id_or_name, api_keys.c.name == id_or_name),
                api_keys.c.revoked_at.is_(None),
            )
            .values(revoked_at=sa.func.now())
        )
    return result.rowcount > 0


def well_formed(presented: str) -> bool:
    """Whether `presented` has the shape of a stored key; anything else is refused without a
    database round trip (so a malformed key is a 401 even while Postgres is down)."""
    return _KEY.fullmatch(presented) is not None


def find_key(conn: Connection, presented: str) -> ApiKey | None:
    """The active key `presented` is, or None (malformed, unknown, wrong secret or revoked)."""
    match = _KEY.fullmatch(presented)
    if match is None:
        return None
    row = conn.execute(
        sa.select(
            api_keys.c.name, api_keys.c.key_hash, api_keys.c.roles, api_keys.c.revoked_at
        ).where(api_keys.c.key_id == match[1])
    ).first()
    if row is None or not hmac.compare_digest(hash_key(presented).encode(), row[1].encode()):
        return None
    if row[3] is not None:
        return None
    return ApiKey(match[1], row[0], _roles(row[2]), revoked_at=row[3])
