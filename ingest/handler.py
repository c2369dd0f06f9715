"""One collector request, from body bytes to acknowledged records; no HTTP framework in here."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from cdp.ingest.auth import write_key_from
from cdp.ingest.body import decode_body
from cdp.ingest.errors import RequestRejected, Unauthorized
from cdp.ingest.observability import count_accepted, count_rejected
from cdp.ingest.publisher import Publisher
from cdp.ingest.sources import Source, SourceCache
from cdp.ingest.validate import BatchContext, validate_batch
from cdp.kafka import BrokerUnavailable
from cdp.settings import Limits

__all__ = ["Handler", "IngestRequest", "Outcome"]


@dataclass(frozen=True, slots=True)
class IngestRequest:
    """What the handler needs of an HTTP request."""

    body: bytes
    content_encoding: str | None
    authorization: str | None
    client_ip: str | None
    message_type: str | None
    """The type named by the path (`/v1/track`), or None for `/v1/batch` and `/v1/import`."""
    endpoint: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    accepted: int
    rejected: int


class Handler:
    """Validates, authenticates and publishes; raises `RequestRejected` for whole-request refusals."""

    def __init__(self, limits: Limits, sources: SourceCache, publisher: Publisher) -> None:
        self._limits = limits
        self._sources = sources
        self._publisher = publisher

    async def handle(self, request: IngestRequest) -> Outcome:
        header_key = write_key_from(request.authorization, {})
        source = await self._authenticate(header_key) if header_key else None
        body = decode_body(request.body, request.content_encoding, self._limits)
        if source is None:
            source = await self._authenticate(write_key_from(None, body))
        items, batch = self._unpack(body, request, source.id)
        oks, errs = validate_batch(items, batch, request.message_type)
        try:
            await self._publisher.publish(oks, errs, source.id, origin=request.endpoint or None)
        except BrokerUnavailable as exc:
            raise RequestRejected(
                503, "unavailable", f"events not stored, retry later: {exc}"
            ) from exc
        count_accepted(len(oks))
        for err in errs:
            count_rejected(err.reason)
        if request.message_type is not None and errs:
            raise RequestRejected(400, errs[0].reason, errs[0].message)
        return Outcome(len(oks), len(errs))

    async def _authenticate(self, write_key: str | None) -> Source:
        """The enabled source of `write_key`; a key in the Basic header is checked before the body is read."""
        if write_key is None:
            raise Unauthorized("no write key: send it as the Basic auth user name or as writeKey")
        source = await self._sources.resolve(write_key)
        if source is None:
            raise Unauthorized("unknown write key")
        if not source.enabled:
            raise Unauthorized(f"source {source.name} is disabled")
        return source

    def _unpack(
        self, body: dict[str, Any], request: IngestRequest, source_id: str
    ) -> tuple[list[Any], BatchContext]:
        received_at = int(time.time() * 1000)
        if request.message_type is not None:
            return [body], BatchContext(source_id, received_at, self._limits, ip=request.client_ip)
        items = body.get("batch")
        if not isinstance(items, list):
            raise RequestRejected(400, "invalid_batch", "the body needs a batch array")
        if len(items) > self._limits.max_batch_items:
            raise RequestRejected(
                400,
                "too_many_events",
                f"the batch has {len(items)} events; the limit is {self._limits.max_batch_items}",
            )
        context = body.get("context")
        integrations = body.get("integrations")
        return items, BatchContext(
            source_id,
            received_at,
            self._limits,
            context=context if isinstance(context, dict) else None,
            integrations=integrations if isinstance(integrations, dict) else None,
            sent_at=body.get("sentAt"),
            ip=request.client_ip,
        )
