"""The outbox relay: publishes rows written by the processor's transactions, then deletes them.

At least once: a row is deleted only after the broker acknowledged it, so a crash in between
publishes it again; every record carries a stable id (`change_id`) for subscribers to dedupe.
Rows are taken in id order with `SKIP LOCKED`, so a second relay never blocks on the first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import psycopg
from confluent_kafka import KafkaError, Message, Producer

from cdp.activation.observability import count_published
from cdp.errors import RetryableError
from cdp.settings import Settings

__all__ = ["OutboxRelay"]

log = logging.getLogger(__name__)

#: After a failure the relay pauses this long: long enough not to spin, short next to SDK timeouts.
RETRY_PAUSE_S = 1.0


class OutboxRelay:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer = Producer(
            settings.kafka_config(**{"enable.idempotence": True, "acks": "all", "linger.ms": 5})
        )
        self._conn = psycopg.connect(settings.database_dsn(), autocommit=True)

    def relay_once(self) -> int:
        """Publish up to `relay_batch_max` rows; returns how many were published."""
        with self._conn.transaction():
            rows = self._conn.execute(
                "SELECT id, topic, key, value FROM outbox ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
                (self._settings.relay_batch_max,),
            ).fetchall()
            if not rows:
                return 0
            failures: list[KafkaError] = []

            def delivered(err: KafkaError | None, _msg: Message) -> None:
                if err is not None:
                    failures.append(err)

            for _, topic, key, value in rows:
                self._producer.produce(topic, value, key, on_delivery=delivered)
            if self._producer.flush(30) or failures:
                raise RetryableError(f"outbox: broker did not acknowledge ({failures[:1]})")
            self._conn.execute("DELETE FROM outbox WHERE id = ANY(%s)", ([r[0] for r in rows],))
        count_published(row[1] for row in rows)
        return len(rows)

    def run(self, should_stop: Callable[[], bool]) -> None:
        idle_s = self._settings.relay_poll_ms / 1000
        try:
            while not should_stop():
                try:
                    published = self.relay_once()
                except (RetryableError, psycopg.OperationalError) as exc:
                    log.warning("outbox relay: %s", exc)
                    time.sleep(RETRY_PAUSE_S)
                    if self._conn.broken or self._conn.closed:
                        self._conn = psycopg.connect(self._settings.database_dsn(), autocommit=True)
                    continue
                if not published:
                    time.sleep(idle_s)
        finally:
            self._producer.flush(10)
            self._conn.close()
