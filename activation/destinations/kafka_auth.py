"""The settings' Kafka security (`CDP_KAFKA_SECURITY_PROTOCOL`, SASL and TLS) as faust credentials.

The confluent-kafka paths pass the same settings to librdkafka (`Settings.kafka_config`); faust's
aiokafka driver takes them as `broker_credentials`. Mirrors librdkafka: SASL settings count only
under a SASL protocol, the SASL mechanism defaults to GSSAPI, and TLS verifies the broker against
`kafka_ssl_ca_location` (or the system's CAs when unset).
"""

from __future__ import annotations

import ssl

import faust
from faust.types.auth import CredentialsT, SASLMechanism

from cdp.errors import ConfigError
from cdp.settings import Settings

__all__ = ["faust_credentials"]

#: librdkafka's default `sasl.mechanism`.
DEFAULT_MECHANISM = "GSSAPI"
#: Mechanisms that take a user name and password from the settings.
PASSWORD_MECHANISMS = frozenset({"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"})


def faust_credentials(settings: Settings) -> CredentialsT | None:
    """The `broker_credentials` of a faust app for `settings`; None for PLAINTEXT."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = _ssl_context(settings) if protocol.endswith("SSL") else None
    if protocol == "SSL":
        assert context is not None
        return faust.SSLCredentials(context)
    mechanism = (settings.kafka_sasl_mechanism or DEFAULT_MECHANISM).upper()
    if mechanism == "GSSAPI":
        return faust.GSSAPICredentials(ssl_context=context, mechanism=SASLMechanism.GSSAPI)
    if mechanism not in PASSWORD_MECHANISMS:
        raise ConfigError(
            f"Kafka SASL mechanism {mechanism} is not supported by the activation workers "
            f"(use one of {', '.join(sorted(PASSWORD_MECHANISMS | {'GSSAPI'}))})"
        )
    password = settings.kafka_sasl_password
    return faust.SASLCredentials(
        username=settings.kafka_sasl_username or "",
        password=password.get_secret_value() if password is not None else "",
        ssl_context=context,
        mechanism=SASLMechanism(mechanism),
    )


def _ssl_context(settings: Settings) -> ssl.SSLContext:
    """A client context verifying the broker (hostname and chain) against the configured CA."""
    try:
        return ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH, cafile=settings.kafka_ssl_ca_location
        )
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"cannot read the Kafka CA file {settings.kafka_ssl_ca_location!r}: {exc}"
        ) from exc
