"""Roles: admin implies every role, no other role implies another."""

from __future__ import annotations

import pytest

from cdp.auth import ROLES, Role
from cdp.auth.roles import grants, parse_role


@pytest.mark.parametrize("needed", ROLES)
def test_admin_grants_every_role(needed: Role) -> None:
    assert grants(frozenset({Role.ADMIN}), needed)


@pytest.mark.parametrize("held", [r for r in ROLES if r is not Role.ADMIN])
@pytest.mark.parametrize("needed", ROLES)
def test_other_roles_grant_only_themselves(held: Role, needed: Role) -> None:
    assert grants(frozenset({held}), needed) is (held is needed)


def test_parse_role_names_the_valid_roles() -> None:
    assert parse_role(" pii:read ") is Role.PII_READ
    with pytest.raises(ValueError, match="profiles:read"):
        parse_role("ingest")
