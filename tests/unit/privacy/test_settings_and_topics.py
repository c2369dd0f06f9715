"""The privacy hash key is refused outside development while it is a placeholder; dead letters
have a retention set at topic creation."""

from __future__ import annotations

import base64

import pytest
from pydantic import SecretStr

from cdp.errors import ConfigError
from cdp.kafka import platform_topics
from cdp.settings import DEVELOPMENT_HASH_KEY, Privacy, Settings, load_settings

PRODUCTION = {
    "environment": "production",
    "api_token": SecretStr("a-real-api-token-value"),
    "kafka_bootstrap_servers": "k:9092",
    "database_url": SecretStr("postgresql://db/cdp"),
}


@pytest.mark.parametrize("key", [DEVELOPMENT_HASH_KEY, "changeme", ""])
def test_a_placeholder_hash_key_is_refused_in_production(key: str) -> None:
    with pytest.raises(ConfigError, match="CDP_PRIVACY__HASH_KEY"):
        load_settings(**PRODUCTION, privacy=Privacy(hash_key=SecretStr(key)))


def test_a_real_hash_key_starts_in_production_and_the_default_in_development() -> None:
    data_keys = {"k1": SecretStr(base64.b64encode(bytes(range(32))).decode())}
    privacy = Privacy(hash_key=SecretStr("k" * 32), data_keys=data_keys, data_key_id="k1")
    real = load_settings(**PRODUCTION, privacy=privacy)
    assert real.privacy.hash_key.get_secret_value() == "k" * 32
    assert Settings().privacy.hash_key.get_secret_value() == DEVELOPMENT_HASH_KEY


def test_the_hash_key_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDP_PRIVACY__HASH_KEY", "from-the-env")
    assert load_settings().privacy.hash_key.get_secret_value() == "from-the-env"
    assert "from-the-env" not in repr(load_settings())


def test_the_dead_letter_topic_is_created_with_its_retention(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CDP_TOPICS__DLQ_RETENTION_MS", "3600000")
    settings = load_settings()
    [dlq] = [t for t in platform_topics(settings) if t.name == settings.topics.dlq]
    assert dlq.config == {"retention.ms": "3600000"}
