"""The faust app of a destination: Kafka security from the settings, data under the home."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import faust
import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from faust.types.auth import AuthProtocol, SASLMechanism
from pydantic import SecretStr

from cdp.activation.destinations import parse_destinations
from cdp.activation.destinations.agent import build_app
from cdp.activation.destinations.kafka_auth import faust_credentials
from cdp.errors import ConfigError
from cdp.settings import Settings

CA = Path(ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt")


def settings(**overrides: Any) -> Settings:
    return Settings(kafka_bootstrap_servers="broker:9093", **overrides)


def test_plaintext_has_no_credentials() -> None:
    assert faust_credentials(settings()) is None
    assert faust_credentials(settings(kafka_sasl_mechanism=None)) is None


def test_ssl_verifies_the_broker_against_the_configured_ca() -> None:
    found = faust_credentials(
        settings(kafka_security_protocol="SSL", kafka_ssl_ca_location=str(CA))
    )
    assert isinstance(found, faust.SSLCredentials)
    assert found.protocol is AuthProtocol.SSL
    assert found.context.verify_mode is ssl.CERT_REQUIRED
    assert found.context.check_hostname
    assert found.context.cert_store_stats()["x509_ca"] > 0


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "scram-sha-512"])
def test_sasl_plaintext_passes_user_password_and_mechanism(mechanism: str) -> None:
    found = faust_credentials(
        settings(
            kafka_security_protocol="SASL_PLAINTEXT",
            kafka_sasl_mechanism=mechanism,
            kafka_sasl_username="cdp",
            kafka_sasl_password=SecretStr("s3cret-value"),
        )
    )
    assert isinstance(found, faust.SASLCredentials)
    assert found.protocol is AuthProtocol.SASL_PLAINTEXT
    assert found.mechanism is SASLMechanism(mechanism.upper())
    assert (found.username, found.password) == ("cdp", "s3cret-value")
    assert found.ssl_context is None


def test_sasl_ssl_adds_a_tls_context() -> None:
    found = faust_credentials(
        settings(
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism="SCRAM-SHA-512",
            kafka_sasl_username="cdp",
            kafka_sasl_password=SecretStr("s3cret-value"),
            kafka_ssl_ca_location=str(CA),
        )
    )
    assert isinstance(found, faust.SASLCredentials)
    assert found.protocol is AuthProtocol.SASL_SSL
    assert isinstance(found.ssl_context, ssl.SSLContext)


def test_sasl_without_a_mechanism_is_gssapi_as_in_librdkafka() -> None:
    found = faust_credentials(settings(kafka_security_protocol="SASL_SSL"))
    assert isinstance(found, faust.GSSAPICredentials)
    assert found.protocol is AuthProtocol.SASL_SSL


def test_unsupported_mechanism_and_unreadable_ca_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="OAUTHBEARER"):
        faust_credentials(
            settings(
                kafka_security_protocol="SASL_PLAINTEXT",
                kafka_sasl_mechanism="OAUTHBEARER",
                kafka_sasl_password=SecretStr("s3cret-value"),
            )
        )
    with pytest.raises(ConfigError, match="CA file"):
        faust_credentials(
            settings(
                kafka_security_protocol="SSL", kafka_ssl_ca_location=str(tmp_path / "none.pem")
            )
        )


def test_the_app_gets_the_credentials_and_keeps_its_data_under_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (destination,) = parse_destinations(
        {"name": "crm", "segments": ["vip"], "channel": {"type": "kafka", "topic": "t"}}
    )
    home = tmp_path / "home"
    app = build_app(
        settings(
            home=home,
            kafka_security_protocol="SASL_PLAINTEXT",
            kafka_sasl_mechanism="PLAIN",
            kafka_sasl_username="cdp",
            kafka_sasl_password=SecretStr("s3cret-value"),
        ),
        destination,
    )
    assert credentials_to_aiokafka_auth(app.conf.broker_credentials) == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "PLAIN",
        "sasl_plain_username": "cdp",
        "sasl_plain_password": "s3cret-value",
        "ssl_context": None,
    }
    assert app.conf.datadir == home.absolute() / "faust" / "cdp-activation-crm"
    app._create_directories()
    assert app.conf.datadir.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"], "nothing in the cwd"
