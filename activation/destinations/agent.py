"""The faust-streaming app of one destination: its own consumer group on `cdp.segments.membership`.

One app (and one worker process, see `runner`) per destination is what isolates destinations: each
has its own consumer group, so its committed offsets cover exactly what it finished, and a slow or
failing destination holds back only itself. The agent takes micro-batches (`stream.take`); faust
acks a batch's events only after the agent body has finished with them, and commits acked offsets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import faust
import psycopg

from cdp.activation.destinations.channels import open_channel
from cdp.activation.destinations.config import Destination, WebhookChannel
from cdp.activation.destinations.deadletter import DeadLetterWriter
from cdp.activation.destinations.delivery import Deliverer
from cdp.activation.destinations.http_client import WebhookClient
from cdp.activation.destinations.kafka_auth import faust_credentials
from cdp.activation.destinations.payload import Change, change_from_record
from cdp.kafka import AsyncProducer
from cdp.privacy.keystate import pii_codec
from cdp.schemas import Codec, DecodeError, codec_for
from cdp.settings import Settings

__all__ = ["build_app", "faust_broker_url", "faust_datadir", "group_id"]

#: Pause before retrying a batch after a Postgres failure: a restart takes seconds, no need to spin.
DB_RETRY_PAUSE_S = 1.0

log = logging.getLogger(__name__)


def group_id(settings: Settings, destination: str) -> str:
    """The consumer group (and faust app id) of a destination."""
    return f"{settings.activation_group_prefix}{destination}"


def faust_broker_url(settings: Settings) -> str:
    """`kafka://host:port;kafka://...` from the bootstrap servers."""
    servers = (settings.kafka_bootstrap_servers or "").split(",")
    return ";".join(f"kafka://{s.strip()}" for s in servers if s.strip())


def faust_datadir(settings: Settings) -> str:
    """Where faust keeps an app's data (`{conf.id}` is the app id): under the settings' home,
    not faust's default `<app id>-data` in the working directory. faust makes only the last
    level, so the parent is made here."""
    parent = settings.home.absolute() / "faust"
    parent.mkdir(parents=True, exist_ok=True)
    return str(parent / "{conf.id}")


def build_app(settings: Settings, destination: Destination) -> faust.App:
    """The faust app delivering to `destination`; run it with `faust.Worker(app).execute_...`."""
    # faust's default session timeout (60 s) makes a group join on the embedded Tansu broker take
    # ~30 s; the settings' embedded 6 s joins in ~3 s (measured here with aiokafka 0.14).
    session_s = settings.session_timeout_ms() / 1000
    app = faust.App(
        group_id(settings, destination.name),
        broker=faust_broker_url(settings),
        broker_credentials=faust_credentials(settings),
        datadir=faust_datadir(settings),
        web_enabled=False,
        store="memory://",
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=session_s,
        broker_heartbeat_interval=max(0.5, session_s / 6),
        broker_rebalance_timeout=session_s,
        broker_commit_interval=1.0,
        topic_partitions=settings.topics.partitions,
        value_serializer="raw",
        key_serializer="raw",
    )
    topic = app.topic(settings.topics.membership, value_type=bytes, key_type=bytes)
    holder: dict[str, Deliverer] = {}

    @app.agent(topic)
    async def deliver(stream: Any) -> AsyncIterator[None]:
        async with Resources(settings, destination) as res:
            holder["deliverer"] = res.deliverer
            batch_wait = settings.activation_batch_wait_ms / 1000
            async for values in stream.take(settings.activation_batch_max, within=batch_wait):
                changes = await res.decode(values)
                await res.deliver_until_done(changes)
                yield None

    @app.timer(settings.activation_consent_sweep_seconds)  # type: ignore[untyped-decorator]
    async def sweep() -> None:
        deliverer = holder.get("deliverer")
        if deliverer is not None:
            try:
                await deliverer.sweep_consent()
                await deliverer.prune()
                await deliverer.flush_status()
            except psycopg.Error as exc:
                log.warning("consent sweep of %s failed, next time: %s", destination.name, exc)

    return app


class Resources:
    """What the agent needs while it runs: HTTP client, producer, Postgres connection, codec."""

    def __init__(self, settings: Settings, destination: Destination) -> None:
        self._settings = settings
        self._destination = destination
        self.codec: Codec = codec_for(settings)

    async def __aenter__(self) -> Resources:
        settings = self._settings
        self.conn = await psycopg.AsyncConnection.connect(settings.database_dsn(), autocommit=True)
        self.producer = AsyncProducer(settings)
        channel = self._destination.channel
        self.http = WebhookClient(channel.concurrency if isinstance(channel, WebhookChannel) else 0)
        send, concurrency = open_channel(self._destination, self.http, self.producer)
        self.dlq = DeadLetterWriter(settings, self.codec, self.producer, self._destination.name)
        self.deliverer = Deliverer(
            self._destination, send, self.dlq.write, self.conn, concurrency, pii_codec(settings)
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()
        self.producer.close()
        await self.conn.close()

    async def deliver_until_done(self, changes: list[Change]) -> None:
        """Deliver `changes`, retrying the whole batch while Postgres fails.

        faust acks a `take()` batch even when the agent body raises, so an error must not escape
        while changes are unfinished; changes delivered before the failure are sent again (at
        least once, deduped by `change_id` downstream).
        """
        while True:
            try:
                await self.deliverer.deliver(changes)
                return
            except psycopg.Error as exc:
                log.warning(
                    "destination %s: Postgres failed, retrying: %s", self._destination.name, exc
                )
                await asyncio.sleep(DB_RETRY_PAUSE_S)
                await self._reconnect()

    async def _reconnect(self) -> None:
        with contextlib.suppress(psycopg.Error):
            await self.conn.close()
        try:
            self.conn = await psycopg.AsyncConnection.connect(
                self._settings.database_dsn(), autocommit=True
            )
        except psycopg.Error as exc:
            log.warning("destination %s: cannot reconnect yet: %s", self._destination.name, exc)
            return
        self.deliverer.use_connection(self.conn)

    async def decode(self, values: list[bytes]) -> list[Change]:
        """The changes among `values`; undecodable records are dead-lettered, not dropped."""
        out = []
        for value in values:
            try:
                out.append(change_from_record(self.codec.decode_any(value)))
            except (DecodeError, KeyError, ValueError, TypeError) as exc:
                await self.dlq.write_raw(value, "undecodable", f"{type(exc).__name__}: {exc}")
        return out
