"""The codec of the settings, and the check that a database is read the way it was written.

Identifiers are stored under their keyed hash, so a changed hash key (or encryption switched
on or off) would silently stop every lookup and make a second profile for every returning
customer. The first service to start records the mode and a check value of the hash key in
``pii_state``; every later start compares and refuses with `PiiStateMismatch`.
"""

from __future__ import annotations

import hmac
from hashlib import sha256

import sqlalchemy as sa

from cdp.db import create_engine
from cdp.db.tables import pii_state
from cdp.privacy.atrest import PiiCodec
from cdp.privacy.crypto import KeyRing
from cdp.privacy.errors import PiiStateMismatch
from cdp.settings import Settings

__all__ = ["check_pii_state", "check_pii_state_of", "hash_check", "pii_codec"]

HASH_CHECK_MESSAGE = b"cdp.pii.hash-key-check"


def pii_codec(settings: Settings) -> PiiCodec:
    """The codec `settings` describe: their keys, hash key, PII trait and property names."""
    privacy = settings.privacy
    ring = KeyRing(privacy.data_key_bytes(), privacy.data_key_id) if privacy.encrypt_pii else None
    return PiiCodec(
        ring,
        privacy.hash_key.get_secret_value().encode(),
        settings.pii_traits,
        settings.pii_property_names(),
    )


def hash_check(settings: Settings) -> str:
    """A value that tells whether two hash keys are the same without revealing either."""
    key = settings.privacy.hash_key.get_secret_value().encode()
    return hmac.new(key, HASH_CHECK_MESSAGE, sha256).hexdigest()


def check_pii_state(engine: sa.Engine, settings: Settings) -> None:
    """Record the database's PII mode on first use; raise `PiiStateMismatch` when `settings`
    would read or write it differently."""
    encrypted = settings.privacy.encrypt_pii
    check = hash_check(settings)
    with engine.begin() as conn:
        conn.execute(
            sa.dialects.postgresql.insert(pii_state)
            .values(id=1, encrypted=encrypted, hash_check=check)
            .on_conflict_do_nothing()
        )
        row = conn.execute(sa.select(pii_state.c.encrypted, pii_state.c.hash_check)).one()
    if row.encrypted != encrypted:
        stored = "encrypted" if row.encrypted else "in clear"
        raise PiiStateMismatch(
            f"the database holds PII {stored} but CDP_PRIVACY__ENCRYPT_PII is "
            f"{'on' if encrypted else 'off'}"
            + ("; run `cdp keys rotate-data-key` to encrypt it" if encrypted else "")
        )
    if row.hash_check is not None and row.hash_check != check:
        raise PiiStateMismatch(
            "CDP_PRIVACY__HASH_KEY differs from the key the database's identifiers were "
            "hashed with; identity resolution would stop matching returning customers"
        )


def check_pii_state_of(settings: Settings) -> None:
    """`check_pii_state` on a short-lived engine of its own, for a service that holds no
    SQLAlchemy engine otherwise."""
    engine = create_engine(settings, pool_size=1)
    try:
        check_pii_state(engine, settings)
    finally:
        engine.dispose()
