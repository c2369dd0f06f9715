"""The benches run on the session's broker and Postgres, which they take as external."""

from __future__ import annotations

import pytest

from cdp.settings import Settings


@pytest.fixture
def session_services(base_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Point a bench at the session's services through the environment, as a user points it
    at a cluster, keeping the session broker's consumer session timeout: at librdkafka's 45 s
    default a consumer waits about 23 s to join a group on Tansu."""
    assert base_settings.kafka_bootstrap_servers is not None
    assert base_settings.database_url is not None
    monkeypatch.setenv("CDP_KAFKA_BOOTSTRAP_SERVERS", base_settings.kafka_bootstrap_servers)
    monkeypatch.setenv("CDP_DATABASE_URL", base_settings.database_url.get_secret_value())
    monkeypatch.setenv("CDP_KAFKA_SESSION_TIMEOUT_MS", str(base_settings.session_timeout_ms()))
    return base_settings
