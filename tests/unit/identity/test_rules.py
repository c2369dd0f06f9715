from __future__ import annotations

import pytest
from pydantic import ValidationError

from cdp.errors import ConfigError
from cdp.identity import IdentityRules
from cdp.settings import Settings, load_settings


def test_defaults_follow_the_design() -> None:
    rules = IdentityRules()
    assert [rules.priority(t) for t in ("user_id", "email", "phone", "anonymous_id")] == [
        1,
        2,
        3,
        4,
    ]
    assert [rules.limit(t) for t in ("user_id", "email", "phone", "anonymous_id")] == [1, 5, 5, 100]
    assert rules.priority("device_id") == 5
    assert rules.limit("device_id") == 5
    assert rules.max_merges_per_profile == 100
    assert rules.max_identifiers_per_profile == 1000
    assert rules.phone_region == "US"
    assert rules.custom_paths == {}


def test_configured_priorities_and_limits_are_laid_over_the_defaults() -> None:
    rules = IdentityRules(limits={"email": 3, "crm_id": 1}, priorities={"crm_id": 2})
    assert rules.limit("email") == 3
    assert rules.limit("user_id") == 1  # not lost by naming another type
    assert rules.limit("crm_id") == 1
    assert rules.priority("crm_id") == 2
    assert rules.priority("anonymous_id") == 4


def test_the_defaults_for_unlisted_types_can_be_changed() -> None:
    rules = IdentityRules(default_priority=9, default_limit=2)
    assert rules.priority("crm_id") == 9
    assert rules.limit("crm_id") == 2
    assert rules.limit("email") == 5


@pytest.mark.parametrize(
    "kwargs",
    [
        {"limits": {"email": 0}},
        {"default_limit": 0},
        {"max_identifiers_per_profile": 0},
        {"max_merges_per_profile": -1},
        {"limits": {"Email": 3}},
        {"priorities": {"crm id": 3}},
        {"custom_paths": {"device:id": "context.device.id"}},
        {"custom_paths": {"email": "context.traits.work_email"}},
        {"custom_paths": {"device_id": ""}},
        {"custom_paths": {"device_id": "context..id"}},
        {"phone_region": "XX"},
        {"unknown_knob": 1},
    ],
)
def test_invalid_rules_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        IdentityRules(**kwargs)


def test_phone_region_is_upper_cased() -> None:
    assert IdentityRules(phone_region=" gb ").phone_region == "GB"


def test_rules_are_frozen() -> None:
    rules = IdentityRules()
    with pytest.raises(ValidationError):
        rules.phone_region = "GB"  # type: ignore[misc]


def test_settings_carry_the_identity_rules() -> None:
    assert Settings().identity == IdentityRules()


def test_identity_rules_come_from_nested_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CDP_IDENTITY__PHONE_REGION", "GB")
    monkeypatch.setenv(
        "CDP_IDENTITY__CUSTOM_PATHS",
        '{"device_id": "context.device.id", "crm_id": "traits.crm_id"}',
    )
    monkeypatch.setenv("CDP_IDENTITY__LIMITS", '{"email": 2}')
    monkeypatch.setenv("CDP_IDENTITY__MAX_MERGES_PER_PROFILE", "10")
    rules = load_settings().identity
    assert rules.phone_region == "GB"
    assert rules.custom_paths == {"device_id": "context.device.id", "crm_id": "traits.crm_id"}
    assert rules.limit("email") == 2
    assert rules.limit("user_id") == 1
    assert rules.max_merges_per_profile == 10


def test_a_single_limit_can_be_set_by_its_own_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDP_IDENTITY__LIMITS__PHONE", "1")
    rules = load_settings().identity
    assert rules.limit("phone") == 1
    assert rules.limit("email") == 5


def test_bad_identity_rules_in_the_environment_are_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CDP_IDENTITY__LIMITS", '{"email": 0}')
    with pytest.raises(ConfigError, match="at least 1"):
        load_settings()
