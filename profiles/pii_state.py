"""The profile API's check of the database's PII state (`cdp.privacy.keystate.check_pii_state`).

A database whose identifiers were hashed with another key, or written in clear while the API
reads encrypted (or the reverse), would answer every lookup "not found"; the API refuses to
start on one instead. Postgres being down at start only defers the check to the first read, so
the API still starts and reports itself unready as before.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from cdp.privacy.keystate import check_pii_state
from cdp.settings import Settings

__all__ = ["PiiStateGate"]

log = logging.getLogger(__name__)


@dataclass
class PiiStateGate:
    """`check_pii_state` once per process: when the API starts, or, if Postgres was down then,
    before the first read (a database written another way must never be answered from)."""

    settings: Settings
    checked: bool = False

    def check(self, engine: Engine) -> None:
        if not self.checked:
            check_pii_state(engine, self.settings)
            self.checked = True

    def check_at_start(self, engine: Engine) -> None:
        """`PiiStateMismatch` stops the start; an unreachable Postgres only defers the check."""
        try:
            self.check(engine)
        except OperationalError as exc:
            log.warning("PII state not checked at start (Postgres unavailable): %s", exc.orig)
