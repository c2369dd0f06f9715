"""The collector's HTTP surface: the Segment tracking API, health, readiness and metrics."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import orjson
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

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

__all__ = ["IngestFastPath", "create_app", "ingest_routes"]

#: prometheus_client keeps the counters of several processes in files under this directory.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

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

    routes = ingest_routes()
    app = FastAPI(title="cdp collector", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.add_middleware(IngestFastPath, routes=routes, ingest=ingest)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(settings.collector_cors_origins),
        allow_methods=["POST", "GET", "OPTIONS"],
        allow_headers=["*"],
        max_age=3600,
    )
    for path, (kind, endpoint) in routes.items():
        _route(app, ingest, path, kind, endpoint)

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
        return Response(_metrics_text(), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _json(exc.status_code, {"code": code, "message": str(exc.detail)})

    return app


def ingest_routes() -> dict[str, tuple[str | None, str]]:
    """Ingest path → (message type the path sets, or None for a batch; endpoint name)."""
    routes: dict[str, tuple[str | None, str]] = {}
    for kind in sorted(MESSAGE_TYPES):
        routes[f"/v1/{kind}"] = (kind, kind)
    for short, kind in SHORT_PATHS.items():
        routes[f"/v1/{short}"] = (kind, short)
    for path in BATCH_PATHS:
        routes[f"/v1/{path}"] = (None, path)
    return routes


def _route(app: FastAPI, ingest: _Ingest, path: str, kind: str | None, name: str) -> None:
    async def endpoint(request: Request) -> Response:
        return await ingest(request, kind, name)

    app.add_api_route(path, endpoint, methods=["POST"], name=name)


class IngestFastPath:
    """ASGI middleware answering `POST` on the ingest paths itself, without FastAPI's routing.

    Route matching, the endpoint wrapper and the exception and exit-stack middlewares cost
    about 8% of the collector's CPU per request (py-spy), for nothing the ingest endpoints use.
    This middleware sits inside CORS and the server-error middleware, exactly where the routes
    were, and calls the same `ingest` function with a Starlette `Request`, so the answers are
    the same. Other methods and paths go on to FastAPI, where the same routes stay registered
    (405 for a GET, redirects, OpenAPI).
    """

    def __init__(
        self, app: ASGIApp, routes: dict[str, tuple[str | None, str]], ingest: _Ingest
    ) -> None:
        self.app = app
        self._routes = routes
        self._ingest = ingest

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            route = self._routes.get(scope["path"])
            if route is not None:
                response = await self._ingest(Request(scope, receive, send), *route)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


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


def _metrics_text() -> bytes:
    """This process's metrics, or those of every worker process when they share a directory."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest()


async def _postgres_ok(engine: Engine) -> bool:
    try:
        await asyncio.wait_for(asyncio.to_thread(ping, engine), timeout=3)
    except (SQLAlchemyError, OSError, TimeoutError):
        return False
    return True
