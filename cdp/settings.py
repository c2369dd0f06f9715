"""The one settings object of cdp, read from `CDP_*` environment variables.

Nothing reads settings at import time: entry points call :func:`load_settings` and pass the
frozen object down. Secrets are `SecretStr` so they never reach a log or a repr by accident.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cdp.errors import ConfigError
from cdp.identity.rules import IdentityRules
from cdp.privacy.names import PiiNames, normal_name

__all__ = ["Limits", "Privacy", "Settings", "Topics", "load_settings"]

PLACEHOLDER_SECRETS = frozenset({"", "changethis", "changeme", "secret", "password", "cdp"})

#: librdkafka waits about half of `session.timeout.ms` before a new member joins a group on the
#: embedded Tansu broker (23 s at the 45 s default, 3.6 s at 6 s, measured here), so consumers
#: against it use 6 s; an external cluster keeps librdkafka's default unless told otherwise.
EMBEDDED_SESSION_TIMEOUT_MS = 6000


class Topics(BaseModel):
    """Names and partition counts of the topics cdp owns."""

    model_config = ConfigDict(frozen=True)

    raw: str = "cdp.events.raw"
    dlq: str = "cdp.events.dlq"
    profile_changes: str = "cdp.profiles.changes"
    membership: str = "cdp.segments.membership"
    activation_dlq: str = "cdp.activation.dlq"
    partitions: int = Field(default=6, ge=1)
    dlq_partitions: int = Field(default=1, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    dlq_retention_ms: int = Field(default=14 * 86_400_000, ge=60_000)
    """`retention.ms` of the dead-letter topic, set when cdp creates it: dead letters carry
    the original payload (personal data), so they are not kept forever."""


class Limits(BaseModel):
    """Request limits of the collector, as Segment's tracking API documents them."""

    model_config = ConfigDict(frozen=True)

    max_event_bytes: int = Field(default=32 * 1024, ge=1)
    max_batch_bytes: int = Field(default=500 * 1024, ge=1)
    max_batch_items: int = Field(default=2500, ge=1)
    max_json_depth: int = Field(default=32, ge=2)


#: The privacy hash key of development mode; refused outside it, like any placeholder secret.
DEVELOPMENT_HASH_KEY = "cdp-development-privacy-hash-key"


#: The data key of development mode (base64 of 32 bytes, derived from a public phrase); refused
#: outside it, like any placeholder secret.
DEVELOPMENT_DATA_KEY = base64.b64encode(
    hashlib.sha256(b"cdp-development-data-key").digest()
).decode()
DATA_KEY_BYTES = 32
#: 32 random bytes have about 30 distinct values (fewer than 16 with odds under 1e-20); a key
#: with fewer than this many (all zeros, a repeated pattern) is a placeholder, not a key.
MIN_DISTINCT_KEY_BYTES = 16
_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


class Privacy(BaseModel):
    """Keyed hashing and encryption of personal data.

    `hash_key` keys the HMAC-SHA256 of every identifier: identity resolution matches on it and
    suppression keeps only it. `data_keys` are AES-256-GCM keys by key id (base64 of 32 bytes,
    e.g. ``CDP_PRIVACY__DATA_KEYS='{"k2026": "..."}'``); `data_key_id` names the one new values
    are encrypted under, the others stay readable until `cdp keys rotate-data-key` has moved
    every value off them. `encrypt_pii` off stores identifiers and PII traits in clear; it is
    for development and benchmarks only and cannot change once a database holds data.
    """

    model_config = ConfigDict(frozen=True)

    hash_key: SecretStr = SecretStr(DEVELOPMENT_HASH_KEY)
    encrypt_pii: bool = True
    data_keys: dict[str, SecretStr] = {"dev": SecretStr(DEVELOPMENT_DATA_KEY)}
    data_key_id: str = "dev"
    pii_properties: list[str] | None = None
    """The PII names of event properties (track, page, screen and alias events), sealed at any
    depth whatever their spelling. None (the default) means `Settings.pii_traits` without
    ``name``: in Segment's e-commerce spec an event's ``properties.name`` is the product's name
    (``Product Viewed``, ``Order Completed`` products...), which segments and computed traits
    must be able to compare; a person's name arrives as a trait (identify calls,
    ``context.traits``), which stays sealed. An empty list seals no event property."""

    @model_validator(mode="after")
    def _check_keys(self) -> Privacy:
        for key_id, key in self.data_keys.items():
            if not _KEY_ID.match(key_id):
                raise ValueError(f"data key id {key_id!r} must match {_KEY_ID.pattern}")
            try:
                raw = base64.b64decode(key.get_secret_value(), validate=True)
            except binascii.Error as exc:
                raise ValueError(f"data key {key_id!r} is not base64") from exc
            if len(raw) != DATA_KEY_BYTES:
                raise ValueError(f"data key {key_id!r} must be {DATA_KEY_BYTES} bytes, base64")
        if self.data_key_id not in self.data_keys:
            raise ValueError(f"CDP_PRIVACY__DATA_KEY_ID {self.data_key_id!r} is not in data_keys")
        return self

    def data_key_bytes(self) -> dict[str, bytes]:
        """The data keys, decoded, by key id."""
        return {k: base64.b64decode(v.get_secret_value()) for k, v in self.data_keys.items()}


class Settings(BaseSettings):
    """Everything cdp can be told, as one frozen object.

    Nested values use a double underscore: ``CDP_TOPICS__RAW``, ``CDP_LIMITS__MAX_BATCH_ITEMS``.
    """

    model_config = SettingsConfigDict(
        env_prefix="CDP_", env_nested_delimiter="__", frozen=True, extra="ignore"
    )

    environment: Literal["development", "production"] = "development"
    home: Path = Path(".cdp")
    log_level: str = "INFO"

    kafka_bootstrap_servers: str | None = None
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_ca_location: str | None = None
    kafka_session_timeout_ms: int | None = Field(default=None, ge=1000)
    kafka_embedded: bool = False
    embedded_kafka_port: int = 19092

    database_url: SecretStr | None = None

    schema_registry_url: str | None = None
    schema_registry_basic_auth: SecretStr | None = None

    topics: Topics = Topics()
    limits: Limits = Limits()
    identity: IdentityRules = IdentityRules()
    privacy: Privacy = Privacy()

    collector_host: str = "127.0.0.1"
    collector_port: int = 8088
    api_host: str = "127.0.0.1"
    api_port: int = 8089
    collector_cors_origins: list[str] = ["*"]
    collector_workers: int = Field(default=1, ge=1)
    """Collector processes sharing the port (SO_REUSEPORT); see `cdp.ingest.service`."""
    source_cache_seconds: float = Field(default=5.0, ge=0)

    producer_linger_ms: int = Field(default=5, ge=0)
    producer_delivery_timeout_ms: int = Field(default=10_000, ge=1000)
    retry_after_seconds: int = Field(default=2, ge=1)

    api_token: SecretStr = SecretStr("changethis")
    """A bootstrap admin API key (`cdp.auth`); a placeholder is refused outside development."""
    pii_traits: list[str] = ["email", "phone", "name", "first_name", "last_name", "address"]
    """Traits masked for API keys without ``pii:read``, at any depth, whatever their spelling."""
    pii_identifier_types: list[str] = ["email", "phone"]
    """Identifier types whose values are masked for API keys without ``pii:read``."""

    processor_group: str = "cdp-processor"
    processor_batch_max: int = Field(default=5000, ge=1)
    processor_batch_wait_ms: int = Field(default=20, ge=1)
    """How long the processor waits to fill a batch when it has none in hand (with a backlog,
    batches fill at once). Not longer: librdkafka's consume waits out the whole time unless
    the batch fills, so at 5,000 events/s offered `cdp bench pipeline` (20,000 events) gave
    p50/p99 latency of 224-357 / 531-1,059 ms at 20 ms against 608-787 / 1,531-2,382 ms at
    200 ms, with the same throughput."""
    processor_instances: int = Field(default=1, ge=1, le=16)
    """Processors `cdp up` runs, as one consumer group sharing the raw topic's partitions (at
    most its partition count do work). Two use a 2-core machine better than one: 23,100-23,800
    against about 15,800 events/s in `cdp bench pipeline --processors 2`; each has its own
    RSS (about 330 MiB at peak there)."""
    processor_defer_contended: bool = True
    """Defer to the next batch the events whose identity locks another processor holds, rather
    than wait for its transaction (`cdp.profiles.contention`); matters with several
    processors on one topic."""
    processor_seal_process: bool = True
    """Seal the timeline's PII (with `privacy.encrypt_pii`) in a child process of the
    processor, on another core than the one folding (`cdp.profiles.sealing`); off, the
    processor seals it in its own process, where it competes for the GIL."""
    timeline_retention_days: int = Field(default=0, ge=0)
    dedupe_retention_days: int = Field(default=30, ge=1)
    relay_batch_max: int = Field(default=1000, ge=1)
    relay_poll_ms: int = Field(default=50, ge=1)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=0, ge=0, le=65535)
    """`/healthz`, `/readyz` and `/metrics` of the processor, relay, scheduler and activation
    services (0: off). The collector and the API serve them on their own HTTP port."""
    activation_batch_max: int = Field(default=500, ge=1)
    activation_batch_wait_ms: int = Field(default=200, ge=1)
    activation_reload_seconds: float = Field(default=5.0, gt=0)
    activation_consent_sweep_seconds: float = Field(default=5.0, gt=0)
    activation_group_prefix: str = "cdp-activation-"
    activation_metrics_port: int = Field(default=0, ge=0)
    """First port of the destination workers' Prometheus metrics (one port each; 0: off)."""

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> Settings:
        if self.environment == "development":
            return self
        if self.api_token.get_secret_value() in PLACEHOLDER_SECRETS:
            raise ValueError("CDP_API_TOKEN is a placeholder; set a real secret in production")
        if self.kafka_bootstrap_servers is None or self.database_url is None:
            raise ValueError(
                "production needs CDP_KAFKA_BOOTSTRAP_SERVERS and CDP_DATABASE_URL; "
                "the embedded broker and Postgres are for development only"
            )
        if self.kafka_sasl_mechanism and (
            self.kafka_sasl_password is None
            or self.kafka_sasl_password.get_secret_value() in PLACEHOLDER_SECRETS
        ):
            raise ValueError("CDP_KAFKA_SASL_PASSWORD is missing or a placeholder")
        if self.privacy.hash_key.get_secret_value() in PLACEHOLDER_SECRETS | {DEVELOPMENT_HASH_KEY}:
            raise ValueError(
                "CDP_PRIVACY__HASH_KEY is a placeholder; set a real secret in production"
            )
        self._refuse_placeholder_data_keys()
        return self

    def _refuse_placeholder_data_keys(self) -> None:
        privacy = self.privacy
        if not privacy.encrypt_pii:
            raise ValueError("CDP_PRIVACY__ENCRYPT_PII is off; production encrypts PII at rest")
        raw_keys = privacy.data_key_bytes()
        for key_id, key in privacy.data_keys.items():
            if key.get_secret_value() == DEVELOPMENT_DATA_KEY:
                raise ValueError(
                    f"data key {key_id!r} is the development placeholder; set CDP_PRIVACY__DATA_KEYS"
                )
            if len(set(raw_keys[key_id])) < MIN_DISTINCT_KEY_BYTES:
                raise ValueError(f"data key {key_id!r} looks like a placeholder, not random bytes")
        if len(set(raw_keys.values())) != len(raw_keys):
            raise ValueError("two data keys in CDP_PRIVACY__DATA_KEYS are the same key")

    def pii_property_names(self) -> list[str]:
        """The PII names of event properties: `Privacy.pii_properties`, or by default
        `pii_traits` without ``name`` (see `Privacy.pii_properties`)."""
        if self.privacy.pii_properties is not None:
            return list(self.privacy.pii_properties)
        return [n for n in self.pii_traits if normal_name(n) != "name"]

    def pii_names(self) -> PiiNames:
        """The PII trait and event property names, as validation of definitions tests them."""
        return PiiNames.of(self.pii_traits, self.pii_property_names())

    @property
    def uses_embedded_services(self) -> bool:
        """True when neither Kafka nor Postgres was configured, so `cdp up` starts its own."""
        return self.kafka_bootstrap_servers is None or self.database_url is None

    def require_database_url(self) -> str:
        """The Postgres URL (SQLAlchemy form, psycopg 3 driver), or a `ConfigError`."""
        if self.database_url is None:
            raise ConfigError("no database: set CDP_DATABASE_URL or start the stack with `cdp up`")
        return sqlalchemy_url(self.database_url.get_secret_value())

    def database_dsn(self) -> str:
        """The Postgres URL as libpq and psycopg take it (no SQLAlchemy driver name)."""
        if self.database_url is None:
            raise ConfigError("no database: set CDP_DATABASE_URL or start the stack with `cdp up`")
        return self.database_url.get_secret_value().replace(
            "postgresql+psycopg://", "postgresql://", 1
        )

    def session_timeout_ms(self) -> int:
        """The consumer session timeout: short on the embedded broker, see the constant."""
        if self.kafka_session_timeout_ms is not None:
            return self.kafka_session_timeout_ms
        return EMBEDDED_SESSION_TIMEOUT_MS if self.kafka_embedded else 45_000

    def kafka_config(self, **overrides: Any) -> dict[str, Any]:
        """The librdkafka configuration shared by every client, with `overrides` on top.

        librdkafka's own log lines go to the Python logger ``librdkafka``, not raw to stderr.
        """
        if self.kafka_bootstrap_servers is None:
            raise ConfigError("no Kafka: set CDP_KAFKA_BOOTSTRAP_SERVERS or start `cdp up`")
        config: dict[str, Any] = {
            "logger": logging.getLogger("librdkafka"),
            "bootstrap.servers": self.kafka_bootstrap_servers,
            "security.protocol": self.kafka_security_protocol,
        }
        if self.kafka_sasl_mechanism:
            config["sasl.mechanism"] = self.kafka_sasl_mechanism
            config["sasl.username"] = self.kafka_sasl_username or ""
            password = self.kafka_sasl_password
            config["sasl.password"] = password.get_secret_value() if password else ""
        if self.kafka_ssl_ca_location:
            config["ssl.ca.location"] = self.kafka_ssl_ca_location
        config.update(overrides)
        return config

    def producer_config(self) -> dict[str, Any]:
        """An idempotent, acks=all producer that fails a send after the delivery timeout."""
        return self.kafka_config(
            **{
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": self.producer_linger_ms,
                "compression.type": "lz4",
                "delivery.timeout.ms": self.producer_delivery_timeout_ms,
                "statistics.interval.ms": 1000,
            }
        )

    def consumer_config(self, group_id: str, **overrides: Any) -> dict[str, Any]:
        """A manually committing consumer of `group_id`, with the session timeout above."""
        return self.kafka_config(
            **{
                "group.id": group_id,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "session.timeout.ms": self.session_timeout_ms(),
                "heartbeat.interval.ms": max(500, self.session_timeout_ms() // 6),
                **overrides,
            }
        )


def sqlalchemy_url(url: str) -> str:
    """Rewrite a plain ``postgresql://`` URL to name the psycopg 3 driver SQLAlchemy should use."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def load_settings(**overrides: object) -> Settings:
    """Read the settings from the environment, with `overrides` taking precedence."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
