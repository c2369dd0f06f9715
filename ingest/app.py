"""The collector's HTTP surface: the Segment tracking API, health, readiness and metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import orjson
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from cdp.db import create_engine, ping
from cdp.ingest.errors import RequestRejected
from cdp.ingest.handler import Handler, IngestRequest
from cdp.ingest.observability import BYTES, REFUSED, REQUESTS
from cdp.ingest.publisher import Publisher
from cdp.ingest.sources import SourceCache
from cdp.ingest.validate import MESSAGE_TYPES
from cdp.kafka import AsyncProducer
from cdp.schemas import codec_for
from cdp.settings import Settings

__all__ = ["create_app"]

_Ingest = Callable[[Request, str | None, str], Awaitable[Response]]

BATCH_PATHS = ("batch", "import", "b")

#: analytics.js (analytics-next) posts each message to the first letter of its type, and batches
#: to `/b`, under its `apiHost`; these aliases make an unmodified browser tracker work.
SHORT_PATHS = {kind[0]: kind for kind in ("track", "page", "identify", "group", "alias", "screen")}


@dataclass
class Runtime:
    """What a running collector holds open."""

    handler: Handler
    producer: AsyncProducer
    engine: Engine


def _json(status: int, body: dict[str, object], headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, media_type="application/json", headers=headers
    )


def create_app(settings: Settings) -> FastAPI:
    """The collector app; Kafka and Postgres clients open with its lifespan and close after it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings, pool_size=4)
        producer = AsyncProducer(settings)
        publisher = Publisher(producer, codec_for(settings), settings.topics)
        sources = SourceCache(engine, settings.source_cache_seconds)
        handler = Handler(settings.limits, sources, publisher)
        app.state.runtime = Runtime(handler, producer, engine)
        try:
            yield
        finally:
            await asyncio.to_thread(producer.close)
            engine.dispose()

    app = FastAPI(title="cdp collector", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(settings.collector_cors_origins),
        allow_methods=["POST", "GET", "OPTIONS"],
        allow_headers=["*"],
        max_age=3600,
    )

    async def ingest(request: Request, message_type: str | None, endpoint: str) -> Response:
        runtime: Runtime = request.app.state.runtime
        try:
            raw = await _read_capped(request, settings.limits.max_batch_bytes)
            BYTES.inc(len(raw))
            outcome = await runtime.handler.handle(
                IngestRequest(
                    body=raw,
                    content_encoding=request.headers.get("content-encoding"),
                    authorization=request.headers.get("authorization"),
                    client_ip=request.client.host if request.client else None,
                    message_type=message_type,
                    endpoint=f"/v1/{endpoint}",
                )
            )
        except RequestRejected as refusal:
            REQUESTS.labels(endpoint, str(refusal.status)).inc()
            REFUSED.labels(refusal.code).inc()
            headers = (
                {"Retry-After": str(settings.retry_after_seconds)}
                if refusal.status == 503
                else None
            )
            return _json(
                refusal.status, {"code": refusal.code, "message": refusal.message}, headers
            )
        REQUESTS.labels(endpoint, "200").inc()
        return _json(
            200, {"success": True, "accepted": outcome.accepted, "rejected": outcome.rejected}
        )

    for kind in sorted(MESSAGE_TYPES):
        _route_single(app, ingest, kind, kind)
    for short, kind in SHORT_PATHS.items():
        _route_single(app, ingest, short, kind)
    for path in BATCH_PATHS:
        _route_batch(app, ingest, path)

    @app.get("/healthz")
    async def healthz() -> Response:
        return _json(200, {"status": "ok"})

    @app.get("/readyz")
    async def readyz(request: Request) -> Response:
        runtime: Runtime = request.app.state.runtime
        checks = {
            "kafka": runtime.producer.available,
            "postgres": await _postgres_ok(runtime.engine),
        }
        return _json(
            200 if all(checks.values()) else 503, {"ready": all(checks.values()), "checks": checks}
        )

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _json(exc.status_code, {"code": code, "message": str(exc.detail)})

    return app


def _route_single(app: FastAPI, ingest: _Ingest, path: str, kind: str) -> None:
    async def endpoint(request: Request) -> Response:
        return await ingest(request, kind, path)

    app.add_api_route(f"/v1/{path}", endpoint, methods=["POST"], name=path)


def _route_batch(app: FastAPI, ingest: _Ingest, path: str) -> None:
    async def endpoint(request: Request) -> Response:
        return await ingest(request, None, path)

    app.add_api_route(f"/v1/{path}", endpoint, methods=["POST"], name=path)


async def _read_capped(request: Request, limit: int) -> bytes:
    """The body, refusing as soon as it passes `limit` bytes (gzip is inflated later, also capped)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise RequestRejected(
            400, "batch_too_large", f"the body is {declared} bytes; the limit is {limit}"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestRejected(400, "batch_too_large", f"the body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _postgres_ok(engine: Engine) -> bool:
    try:
        await asyncio.wait_for(asyncio.to_thread(ping, engine), timeout=3)
    except (SQLAlchemyError, OSError, TimeoutError):
        return False
    return True
