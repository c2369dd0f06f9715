from __future__ import annotations

import base64
import logging

import pytest
from pydantic import SecretStr, ValidationError

from cdp.errors import ConfigError
from cdp.settings import (
    DEVELOPMENT_DATA_KEY,
    EMBEDDED_SESSION_TIMEOUT_MS,
    Settings,
    load_settings,
    sqlalchemy_url,
)


def test_environment_names_use_the_cdp_prefix_and_double_underscore(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CDP_KAFKA_BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("CDP_TOPICS__RAW", "acme.raw")
    monkeypatch.setenv("CDP_LIMITS__MAX_BATCH_ITEMS", "100")
    settings = load_settings()
    assert settings.kafka_bootstrap_servers == "k1:9092,k2:9092"
    assert settings.topics.raw == "acme.raw"
    assert settings.limits.max_batch_items == 100


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.collector_port = 1  # type: ignore[misc]


def test_librdkafka_config_is_rendered_in_one_place() -> None:
    settings = Settings(
        kafka_bootstrap_servers="b:9092",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="svc",
        kafka_sasl_password=SecretStr("s3cr3t-value"),
        kafka_ssl_ca_location="/etc/ca.pem",
    )
    config = settings.producer_config()
    assert config["bootstrap.servers"] == "b:9092"
    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.password"] == "s3cr3t-value"
    assert config["ssl.ca.location"] == "/etc/ca.pem"
    assert config["enable.idempotence"] is True
    assert config["acks"] == "all"
    assert isinstance(config["logger"], logging.Logger)
    assert "s3cr3t-value" not in repr(settings)


def test_session_timeout_is_short_only_on_the_embedded_broker() -> None:
    assert Settings(kafka_embedded=True).session_timeout_ms() == EMBEDDED_SESSION_TIMEOUT_MS
    assert Settings().session_timeout_ms() == 45_000
    assert Settings(kafka_session_timeout_ms=10_000).session_timeout_ms() == 10_000
    consumer = Settings(kafka_bootstrap_servers="b:1", kafka_embedded=True).consumer_config("g")
    assert consumer["session.timeout.ms"] == EMBEDDED_SESSION_TIMEOUT_MS
    assert consumer["enable.auto.commit"] is False


def test_missing_kafka_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        Settings().kafka_config()
    with pytest.raises(ConfigError):
        Settings().require_database_url()


PRODUCTION_PRIVACY: dict[str, object] = {
    "hash_key": SecretStr("a-long-random-hash-key-3c2b1a"),
    "data_keys": {"k1": SecretStr(base64.b64encode(bytes(range(32))).decode())},
    "data_key_id": "k1",
}
PRODUCTION = {
    "environment": "production",
    "kafka_bootstrap_servers": "b:9092",
    "database_url": SecretStr("postgresql://u:p@db/cdp"),
    "api_token": SecretStr("a-long-random-token-9f8e7d"),
    "privacy": PRODUCTION_PRIVACY,
}


def test_production_accepts_real_secrets() -> None:
    assert load_settings(**PRODUCTION).environment == "production"


@pytest.mark.parametrize(
    "change",
    [
        {"api_token": SecretStr("changethis")},
        {"kafka_bootstrap_servers": None},
        {"database_url": None},
        {"kafka_sasl_mechanism": "PLAIN", "kafka_sasl_password": SecretStr("changeme")},
    ],
)
def test_production_refuses_placeholders_and_embedded_services(change: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        load_settings(**{**PRODUCTION, **change})


def _key(first: int) -> SecretStr:
    return SecretStr(base64.b64encode(bytes(range(first, first + 32))).decode())


@pytest.mark.parametrize(
    ("privacy", "reason"),
    [
        ({"data_keys": {"k1": SecretStr(DEVELOPMENT_DATA_KEY)}}, "placeholder"),
        ({"data_keys": {"k1": SecretStr(base64.b64encode(bytes(32)).decode())}}, "placeholder"),
        ({"data_keys": {"k1": _key(0), "k2": _key(0)}}, "same key"),
        ({"encrypt_pii": False}, "ENCRYPT_PII"),
    ],
)
def test_production_refuses_placeholder_data_keys_and_clear_pii(
    privacy: dict[str, object], reason: str
) -> None:
    with pytest.raises(ConfigError, match=reason):
        load_settings(**{**PRODUCTION, "privacy": {**PRODUCTION_PRIVACY, **privacy}})


@pytest.mark.parametrize(
    ("privacy", "reason"),
    [
        ({"data_keys": {"k1": SecretStr("not base64!")}}, "base64"),
        ({"data_keys": {"k1": SecretStr(base64.b64encode(b"short").decode())}}, "32 bytes"),
        ({"data_keys": {"bad:id": _key(0)}, "data_key_id": "bad:id"}, "must match"),
        ({"data_keys": {"k1": _key(0)}, "data_key_id": "k2"}, "not in data_keys"),
    ],
)
def test_malformed_data_keys_are_refused_in_every_mode(
    privacy: dict[str, object], reason: str
) -> None:
    with pytest.raises(ConfigError, match=reason):
        load_settings(environment="development", privacy=privacy)


def test_development_allows_placeholders() -> None:
    assert load_settings(environment="development").api_token.get_secret_value() == "changethis"


def test_database_url_names_psycopg() -> None:
    assert sqlalchemy_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert sqlalchemy_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert sqlalchemy_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
