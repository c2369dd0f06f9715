"""The roles an API key can hold, and what each lets it do.

``ingest`` is not here: collecting events is the job of the per-source write keys of the
collector (`cdp sources create`), which live in the `sources` table and authenticate with HTTP
Basic, as Segment's libraries send them. `cdp keys list` shows both kinds side by side.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ROLES", "Role", "grants", "parse_role"]


class Role(StrEnum):
    """One permission of an API key; `ADMIN` implies every other."""

    PROFILES_READ = "profiles:read"
    """Read profiles, identifiers, timelines, groups, merges and segments (PII masked)."""
    PII_READ = "pii:read"
    """Together with `PROFILES_READ`, see PII traits and identifier values in clear."""
    SEGMENTS_WRITE = "segments:write"
    """Create, replace and delete segments."""
    PRIVACY_ADMIN = "privacy:admin"
    """Data subject requests: `/v1/privacy/*` (export, deletion, suppression)."""
    ADMIN = "admin"
    """Everything above."""


ROLES: tuple[Role, ...] = tuple(Role)


def parse_role(text: str) -> Role:
    """The role named `text`; `ValueError` naming the valid roles otherwise."""
    try:
        return Role(text.strip())
    except ValueError:
        valid = ", ".join(r.value for r in ROLES)
        raise ValueError(f"unknown role {text!r}; roles are {valid}") from None


def grants(held: frozenset[Role], needed: Role) -> bool:
    """True when a key holding `held` may do what `needed` guards."""
    return Role.ADMIN in held or needed in held
