"""Asking for a rotation (`cdp keys rotate-data-key`) and reading where rotations stand.

A request is refused when a rotation is already queued or running (two would only race over the
same rows) and when there is nothing to move: every stored value is under the active key and
the database is not kept in clear. Every request, refused or queued, is written to the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from cdp.audit import record, record_now
from cdp.db.tables import data_key_rotations, pii_state
from cdp.privacy.rotation.census import CLEAR, census, not_under
from cdp.privacy.rotation.errors import RotationRefused
from cdp.settings import Settings

__all__ = [
    "AUDIT_ACTION",
    "PENDING",
    "Rotation",
    "get_rotation",
    "list_rotations",
    "request_rotation",
    "stored_counts",
]

AUDIT_ACTION = "keys.rotate_data_key"
PENDING = ("queued", "running")
#: An arbitrary constant naming the advisory lock that serialises requests (check, then insert).
REQUEST_LOCK = 4_242_017


@dataclass(frozen=True)
class Rotation:
    id: int
    key_id: str
    status: str
    progress: dict[str, Any]
    requested_by: str
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def pending(self) -> bool:
        return self.status in PENDING


def _rotation(row: Any) -> Rotation:
    return Rotation(**{c: row[c] for c in Rotation.__dataclass_fields__})


def stored_counts(conn: Connection) -> dict[str, dict[str, int]]:
    """`census` over a SQLAlchemy connection (in its transaction)."""
    driver = conn.connection.driver_connection
    assert driver is not None
    return census(driver)


def _refusal(conn: Connection, settings: Settings) -> tuple[str | None, str]:
    """Why a rotation cannot be queued now (None: it can), and its mode."""
    pending = conn.execute(
        sa.select(data_key_rotations.c.id, data_key_rotations.c.key_id, data_key_rotations.c.status)
        .where(data_key_rotations.c.status.in_(PENDING))
        .order_by(data_key_rotations.c.id)
        .limit(1)
    ).first()
    if pending is not None:
        return (
            f"rotation {pending.id} to data key {pending.key_id!r} is already {pending.status}; "
            "follow it with `cdp keys rotation-status`"
        ), "rotate"
    encrypted = conn.execute(sa.select(pii_state.c.encrypted)).scalar()
    if encrypted is False:
        return None, "convert"
    active = settings.privacy.data_key_id
    left = not_under(stored_counts(conn), active)
    if CLEAR in left:
        return (
            f"{left[CLEAR]} identifiers are stored in clear although pii_state says the "
            "database is encrypted: was a processor run with CDP_PRIVACY__ENCRYPT_PII=false?",
            "rotate",
        )
    unknown = sorted(set(left) - set(settings.privacy.data_keys))
    if unknown:
        return (
            f"stored values are under data key(s) {', '.join(unknown)}, which "
            "CDP_PRIVACY__DATA_KEYS lacks: add them so that those values can be read and moved",
            "rotate",
        )
    if not left:
        return (
            f"nothing to do: every stored value is under the active data key {active!r}",
            "rotate",
        )
    return None, "rotate"


def request_rotation(engine: Engine, settings: Settings, actor: str = "cli") -> Rotation:
    """Queue a rotation of every stored value to the active data key (converting a database
    kept in clear first); `RotationRefused` says why when it cannot be queued."""
    key_id = settings.privacy.data_key_id
    target = f"data_key:{key_id}"
    if not settings.privacy.encrypt_pii:
        off = "PII encryption is off (CDP_PRIVACY__ENCRYPT_PII=false): there is no key to rotate to"
        record_now(engine, actor=actor, action=AUDIT_ACTION, target=target, outcome="refused",
                   detail={"reason": off})  # fmt: skip
        raise RotationRefused(off)
    with engine.begin() as conn:
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(REQUEST_LOCK)))
        reason, mode = _refusal(conn, settings)
        if reason is None:
            row = conn.execute(
                data_key_rotations.insert()
                .values(key_id=key_id, status="queued", requested_by=actor, progress={"mode": mode})
                .returning(*data_key_rotations.c)
            ).one()
            rotation = _rotation(row._mapping)
            record(conn, actor=actor, action=AUDIT_ACTION, target=target, outcome="queued",
                   detail={"rotation": rotation.id, "mode": mode})  # fmt: skip
            return rotation
    refused = str(reason)
    record_now(engine, actor=actor, action=AUDIT_ACTION, target=target, outcome="refused",
               detail={"reason": refused})  # fmt: skip
    raise RotationRefused(refused)


def list_rotations(engine: Engine, limit: int = 20) -> list[Rotation]:
    """The latest rotations, newest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(data_key_rotations).order_by(data_key_rotations.c.id.desc()).limit(limit)
        ).mappings()
        return [_rotation(r) for r in rows]


def get_rotation(engine: Engine, rotation_id: int) -> Rotation | None:
    with engine.connect() as conn:
        row = (
            conn.execute(
                sa.select(data_key_rotations).where(data_key_rotations.c.id == rotation_id)
            )
            .mappings()
            .first()
        )
    return None if row is None else _rotation(row)
