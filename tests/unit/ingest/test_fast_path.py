"""The ingest fast path answers exactly as the FastAPI routes it bypasses would have."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Sequence
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from cdp.ingest.app import IngestFastPath, Runtime, create_app
from cdp.ingest.handler import Handler
from cdp.ingest.publisher import Publisher
from cdp.ingest.sources import Source
from cdp.kafka import BrokerUnavailable, Record
from cdp.schemas import Codec, ManifestCatalog
from cdp.settings import Settings

WRITE_KEY = "wk-1"
SOURCE = Source("src_1", "test", True, "wk-…")


class Sources:
    async def resolve(self, write_key: str) -> Source | None:
        return SOURCE if write_key == WRITE_KEY else None


class Producer:
    def __init__(self) -> None:
        self.available = True
        self.failure: Exception | None = None
        self.sent: list[Record] = []

    async def send(self, records: Sequence[Record]) -> None:
        if self.failure is not None:
            raise self.failure
        self.sent.extend(records)


def collector(fast: bool) -> tuple[FastAPI, Producer]:
    settings = Settings(collector_cors_origins=["https://shop.example"])
    app = create_app(settings)
    producer = Producer()
    publisher = Publisher(producer, Codec(ManifestCatalog()), settings.topics)  # type: ignore[arg-type]
    handler = Handler(settings.limits, Sources(), publisher)  # type: ignore[arg-type]
    app.state.runtime = Runtime(handler, producer, None)  # type: ignore[arg-type]
    if not fast:
        app.user_middleware = [
            m
            for m in app.user_middleware
            if m.cls is not IngestFastPath  # type: ignore[comparison-overlap]
        ]
    return app, producer


def answer(app: FastAPI, method: str, path: str, **kw: Any) -> tuple[int, list[Any], bytes]:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://collector") as client:
            return await client.request(method, path, **kw)

    response = asyncio.run(go())
    return response.status_code, sorted(response.headers.multi_items()), response.content


BATCH = {
    "batch": [
        {"type": "track", "userId": "u1", "event": "Viewed", "messageId": "m1"},
        {"type": "track", "userId": "u1", "messageId": "m2"},
        {"type": "identify", "anonymousId": "a1", "traits": {"plan": "pro"}, "messageId": "m3"},
    ],
    "sentAt": "2024-05-01T12:00:01Z",
}
AUTH = (WRITE_KEY, "")
ORIGIN = {"Origin": "https://shop.example"}

CASES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "batch": ("POST", "/v1/batch", {"json": BATCH, "auth": AUTH}),
    "batch from a browser": ("POST", "/v1/b", {"json": BATCH, "auth": AUTH, "headers": ORIGIN}),
    "other origin": (
        "POST",
        "/v1/batch",
        {"json": BATCH, "auth": AUTH, "headers": {"Origin": "https://evil.example"}},
    ),
    "gzip": (
        "POST",
        "/v1/import",
        {
            "content": gzip.compress(orjson.dumps(BATCH)),
            "auth": AUTH,
            "headers": {"Content-Encoding": "gzip"},
        },
    ),
    "track": ("POST", "/v1/track", {"json": {"userId": "u", "event": "e"}, "auth": AUTH}),
    "short path": ("POST", "/v1/p", {"json": {"userId": "u", "messageId": "p1"}, "auth": AUTH}),
    "invalid track": ("POST", "/v1/track", {"json": {"userId": "u"}, "auth": AUTH}),
    "write key in body": (
        "POST",
        "/v1/identify",
        {"json": {"userId": "u", "writeKey": WRITE_KEY, "messageId": "i1"}},
    ),
    "no write key": ("POST", "/v1/batch", {"json": BATCH}),
    "invalid json": ("POST", "/v1/batch", {"content": b"{nope", "auth": AUTH}),
    "too large": (
        "POST",
        "/v1/batch",
        {"content": b"x" * (600 * 1024), "auth": AUTH},
    ),
    "get": ("GET", "/v1/track", {"auth": AUTH}),
    "trailing slash": ("POST", "/v1/track/", {"json": {"userId": "u"}, "auth": AUTH}),
    "unknown path": ("POST", "/v1/nothing", {"json": {}, "auth": AUTH}),
    "preflight": (
        "OPTIONS",
        "/v1/batch",
        {"headers": {**ORIGIN, "Access-Control-Request-Method": "POST"}},
    ),
    "health": ("GET", "/healthz", {}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_fast_path_answers_as_the_routes_do(case: str) -> None:
    method, path, kw = CASES[case]
    fast, fast_producer = collector(fast=True)
    routed, routed_producer = collector(fast=False)
    assert answer(fast, method, path, **kw) == answer(routed, method, path, **kw)
    assert [(r.topic, r.key) for r in fast_producer.sent] == [
        (r.topic, r.key) for r in routed_producer.sent
    ]


@pytest.mark.parametrize(
    ("failure", "status"), [(BrokerUnavailable("down"), 503), (RuntimeError("bug"), 500)]
)
def test_broker_and_unexpected_failures_answer_alike(failure: Exception, status: int) -> None:
    answers = []
    for fast in (True, False):
        app, producer = collector(fast)
        producer.failure = failure
        answers.append(answer(app, "POST", "/v1/batch", json=BATCH, auth=AUTH, headers=ORIGIN))
    assert answers[0] == answers[1]
    assert answers[0][0] == status


def test_ingest_posts_are_served_by_the_fast_path() -> None:
    app, producer = collector(fast=True)
    app.router.routes = [
        r for r in app.router.routes if not getattr(r, "path", "").startswith("/v1/")
    ]
    status, _, body = answer(app, "POST", "/v1/batch", json=BATCH, auth=AUTH)
    assert status == 200
    assert orjson.loads(body) == {"success": True, "accepted": 2, "rejected": 1}
    assert len(producer.sent) == 3
