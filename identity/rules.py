"""The tunable rules of identity resolution: priorities, per-profile limits, guards, custom ids.

This module imports nothing from cdp but pydantic (and phonenumbers to check the region), so
`cdp.settings` can embed `IdentityRules` without an import cycle.
"""

from __future__ import annotations

import re
from typing import Any

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["BUILTIN_TYPES", "DEFAULT_LIMITS", "DEFAULT_PRIORITIES", "IdentityRules"]

#: The identifier types every event may carry; custom types are configured on top.
BUILTIN_TYPES = ("user_id", "email", "phone", "anonymous_id")

#: Lower number, higher priority. A user id is the strongest claim of who someone is; an
#: anonymous id is a cookie or device install that several people may share.
DEFAULT_PRIORITIES = {"user_id": 1, "email": 2, "phone": 3, "anonymous_id": 4}

#: Per-profile maxima. One user_id per profile keeps two known users from ever being merged
#: (the user_id limit is what refuses such a merge). People change email and phone a few times,
#: hence 5; one person collects many cookies and installs, hence 100 anonymous ids (Segment
#: Unify's defaults).
DEFAULT_LIMITS = {"user_id": 1, "email": 5, "phone": 5, "anonymous_id": 100}

_TYPE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class IdentityRules(BaseModel):
    """How events' identifiers are turned into profiles.

    `priorities` and `limits` given in configuration are laid over the defaults, so
    ``{"email": 3}`` changes the email limit and keeps the user_id limit of 1. Types not named
    get `default_priority` and `default_limit`. Set from the environment as
    ``CDP_IDENTITY__LIMITS='{"email": 3}'`` or
    ``CDP_IDENTITY__CUSTOM_PATHS='{"device_id": "context.device.id"}'``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    priorities: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_PRIORITIES))
    limits: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_LIMITS))
    #: Custom identifier type -> dotted path into the event (see `cdp.identity.extract`).
    custom_paths: dict[str, str] = Field(default_factory=dict)
    default_priority: int = 5
    #: At least 1: a limit of 0 would make an identifier impossible to hold at all.
    default_limit: int = Field(default=5, ge=1)
    #: Merges one profile may absorb in its life (counting what its merged profiles absorbed).
    #: A profile that keeps merging is usually a shared or junk identifier gluing strangers
    #: together; 100 is far above what one person produces and caps the damage.
    max_merges_per_profile: int = Field(default=100, ge=0)
    #: Identifiers one profile may hold, all types together: the 100 anonymous ids plus a few
    #: of everything else fit many times over, a runaway profile does not.
    max_identifiers_per_profile: int = Field(default=1000, ge=1)
    #: ISO 3166 region that phone numbers without a country code are read in.
    phone_region: str = "US"

    @field_validator("priorities", mode="after")
    @classmethod
    def _over_default_priorities(cls, value: dict[str, int]) -> dict[str, int]:
        _check_type_names(value)
        return {**DEFAULT_PRIORITIES, **value}

    @field_validator("limits", mode="after")
    @classmethod
    def _over_default_limits(cls, value: dict[str, int]) -> dict[str, int]:
        _check_type_names(value)
        low = sorted(name for name, limit in value.items() if limit < 1)
        if low:
            raise ValueError(f"identifier limits must be at least 1: {', '.join(low)}")
        return {**DEFAULT_LIMITS, **value}

    @field_validator("custom_paths", mode="after")
    @classmethod
    def _check_custom_paths(cls, value: dict[str, str]) -> dict[str, str]:
        _check_type_names(value)
        builtin = sorted(set(value) & set(BUILTIN_TYPES))
        if builtin:
            raise ValueError(f"custom identifier types cannot reuse a built-in name: {builtin}")
        for name, path in value.items():
            if not path or "" in path.split("."):
                raise ValueError(f"custom identifier {name!r} has an invalid path {path!r}")
        return value

    @field_validator("phone_region", mode="before")
    @classmethod
    def _check_region(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().upper()
            if value not in phonenumbers.SUPPORTED_REGIONS:
                raise ValueError(f"unknown phone region {value!r} (want e.g. 'US', 'GB', 'DE')")
        return value

    def priority(self, id_type: str) -> int:
        """The priority of `id_type` (lower is stronger), `default_priority` if not configured."""
        return self.priorities.get(id_type, self.default_priority)

    def limit(self, id_type: str) -> int:
        """How many identifiers of `id_type` one profile may hold."""
        return self.limits.get(id_type, self.default_limit)


def _check_type_names(value: dict[str, Any]) -> None:
    bad = sorted(name for name in value if not _TYPE_NAME.match(name))
    if bad:
        raise ValueError(
            f"identifier types must be lower-case snake_case names (a-z, 0-9, _): {bad}"
        )
