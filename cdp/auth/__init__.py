"""Access control of the HTTP APIs: API keys with roles, the `require` dependency, PII masking.

- Keys: `create_key` / `list_keys` / `revoke_key` (``cdp keys``), stored as SHA-256 hashes.
- Routes: a parameter ``principal: ProfileReader`` (or ``SegmentWriter``, ``PrivacyAdmin``), or
  ``dependencies=[Depends(require(Role.X))]``; the app sets
  ``app.state.authenticator = Authenticator(engine, settings)`` and answers `AuthError` with its
  status. The privacy API (`/v1/privacy/*`) guards every route with ``PrivacyAdmin``
  and records each request with `cdp.audit.record`.
- PII: `PiiMask` masks configured traits and identifier values for keys without ``pii:read``.
"""

from cdp.auth.access import (
    Authenticator,
    Principal,
    PrivacyAdmin,
    ProfileReader,
    Require,
    SegmentWriter,
    require,
)
from cdp.auth.errors import AuthError, KeyExists
from cdp.auth.keys import ApiKey, create_key, list_keys, revoke_key
from cdp.auth.pii import PiiMask
from cdp.auth.redact import redact
from cdp.auth.roles import ROLES, Role

__all__ = [
    "ROLES",
    "ApiKey",
    "AuthError",
    "Authenticator",
    "KeyExists",
    "PiiMask",
    "Principal",
    "PrivacyAdmin",
    "ProfileReader",
    "Require",
    "Role",
    "SegmentWriter",
    "create_key",
    "list_keys",
    "redact",
    "require",
    "revoke_key",
]
