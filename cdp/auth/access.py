"""Who a request comes from (`Authenticator`) and the FastAPI dependency guarding each route.

Every route of the profile, segment and privacy APIs declares its role with
``dependencies=[Depends(require(Role.X))]`` (or takes the `Principal` as a parameter);
`require` keeps the role on the dependency so a test can check that no route lacks one.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from cdp.audit import record_now
from cdp.auth.errors import AuthError
from cdp.auth.keys import find_key, well_formed
from cdp.auth.roles import Role, grants
from cdp.settings import Settings

__all__ = [
    "BOOTSTRAP_KEY_ID",
    "Authenticator",
    "Principal",
    "PrivacyAdmin",
    "ProfileReader",
    "Require",
    "SegmentWriter",
    "require",
]

log = logging.getLogger(__name__)

#: The actor name of the settings token (`CDP_API_TOKEN`) in the audit log.
BOOTSTRAP_KEY_ID = "bootstrap"
_CHALLENGE = {"WWW-Authenticate": "Bearer"}
#: The `Retry-After` of a 503 while the key store is unreachable, as the profile API's own.
RETRY_AFTER_S = 2


@dataclass(frozen=True, slots=True)
class Principal:
    """The key a request authenticated with, and its roles."""

    key_id: str
    roles: frozenset[Role]

    def can(self, role: Role) -> bool:
        return grants(self.roles, role)


class Authenticator:
    """Turns an ``Authorization: Bearer <key>`` header into a `Principal`, or refuses with 401.

    The settings token `api_token` is a bootstrap admin key, so `cdp up` works before any key
    exists; outside development the settings refuse to load with a placeholder token, so a
    deployment's bootstrap key is always a real secret. Stored keys are looked up on every
    request (one primary-key read), so a revocation applies to the very next request.
    """

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self._bootstrap = settings.api_token.get_secret_value().encode()

    def authenticate(self, authorization: str | None) -> Principal:
        scheme, _, given = (authorization or "").partition(" ")
        presented = given.strip()
        if scheme.lower() != "bearer" or not presented:
            raise AuthError(401, "unauthorized", "send Authorization: Bearer <API key>", _CHALLENGE)
        if self._bootstrap and hmac.compare_digest(presented.encode(), self._bootstrap):
            return Principal(BOOTSTRAP_KEY_ID, frozenset({Role.ADMIN}))
        if not well_formed(presented):
            raise AuthError(401, "unauthorized", "unknown or revoked API key", _CHALLENGE)
        try:
            with self.engine.connect() as conn:
                key = find_key(conn, presented)
        except OperationalError as exc:
            log.warning("API key lookup failed: %s", exc)
            raise AuthError(
                503,
                "unavailable",
                "the key store is unavailable; retry shortly",
                {"Retry-After": str(RETRY_AFTER_S)},
            ) from exc
        if key is None:
            raise AuthError(401, "unauthorized", "unknown or revoked API key", _CHALLENGE)
        return Principal(key.key_id, key.roles)


class Require:
    """A FastAPI dependency admitting requests whose key holds `role` (or ``admin``).

    It expects ``app.state.authenticator``. Through `AuthError` it answers 401 for a missing,
    unknown or revoked key, 503 while the key store is unreachable, and 403 for a key without the
    role (that refusal is audited, as ``auth.denied``). The admitted `Principal` is returned and
    kept on ``request.state.principal``.
    """

    def __init__(self, role: Role) -> None:
        self.role = role

    async def __call__(self, request: Request) -> Principal:
        auth: Authenticator = request.app.state.authenticator
        principal = await asyncio.to_thread(auth.authenticate, request.headers.get("authorization"))
        if not principal.can(self.role):
            await asyncio.to_thread(self._audit_denial, auth.engine, principal, request)
            raise AuthError(403, "forbidden", f"this API key lacks the role {self.role.value!r}")
        request.state.principal = principal
        return principal

    def _audit_denial(self, engine: Engine, principal: Principal, request: Request) -> None:
        """Record the refusal; a failure to is logged, and the answer stays a 403."""
        route = getattr(request.scope.get("route"), "path", request.url.path)
        try:
            record_now(
                engine,
                actor=principal.key_id,
                action="auth.denied",
                target=f"{request.method} {route}",
                outcome="forbidden",
                detail={"needs": self.role.value},
            )
        except SQLAlchemyError as exc:
            log.warning("could not audit a refused request: %s", exc)


def require(role: Role) -> Require:
    """The dependency guarding a route with `role`: ``Depends(require(Role.PROFILES_READ))``."""
    return Require(role)


ProfileReader = Annotated[Principal, Depends(require(Role.PROFILES_READ))]
"""A route parameter admitting keys with ``profiles:read``: ``principal: ProfileReader``."""
SegmentWriter = Annotated[Principal, Depends(require(Role.SEGMENTS_WRITE))]
"""A route parameter admitting keys with ``segments:write``."""
PrivacyAdmin = Annotated[Principal, Depends(require(Role.PRIVACY_ADMIN))]
"""A route parameter admitting keys with ``privacy:admin``, for every `/v1/privacy/*` route."""
