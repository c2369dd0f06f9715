"""Readiness checks shared by the services: can they reach Kafka and Postgres right now."""

from __future__ import annotations

from typing import TYPE_CHECKING

import psycopg
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

if TYPE_CHECKING:
    from cdp.observability.health import Check
    from cdp.settings import Settings

__all__ = ["CHECK_TIMEOUT_S", "standard_checks"]

#: Readiness must answer well within a probe's timeout (3 s in deploy/kubernetes).
CHECK_TIMEOUT_S = 1.0


def standard_checks(settings: Settings) -> dict[str, Check]:
    """`kafka` (the cluster answers a metadata request) and `postgres` (a `SELECT 1`)."""
    admin = AdminClient(settings.kafka_config())

    def kafka() -> bool:
        try:
            admin.list_topics(timeout=CHECK_TIMEOUT_S)
        except KafkaException:
            return False
        return True

    def postgres() -> bool:
        try:
            with psycopg.connect(
                settings.database_dsn(), connect_timeout=max(1, round(CHECK_TIMEOUT_S))
            ) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    return {"kafka": kafka, "postgres": postgres}
