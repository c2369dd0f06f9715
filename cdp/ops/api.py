"""`/v1/ops`: the overview, segment size history, and the dead-letter browser with replay.

Mounted into the profile API behind its bearer token. Kafka and Postgres reads run in a worker
thread; a store or broker that cannot be read is a 503 ``unavailable``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from sqlalchemy.engine import Engine
from starlette.responses import Response

from cdp.ops.deadletters import Letter, read_letter, read_letters, replay_letters
from cdp.ops.errors import NoSuchLetter, OpsError
from cdp.ops.offsets import ops_consumer
from cdp.ops.overview import overview, segment_history
from cdp.schemas import codec_for
from cdp.settings import Settings

__all__ = ["MAX_LETTERS", "ops_router"]

MAX_LETTERS = 1000
DEFAULT_LETTERS = 100
MAX_HISTORY_DAYS = 365


def _json(status: int, body: Any) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _error(status: int, code: str, message: str) -> Response:
    return _json(status, {"code": code, "message": message})


def _bounded(raw: str | None, default: int, top: int, name: str) -> int | Response:
    if raw is None:
        return default
    text = raw.strip()
    if text.isascii() and text.isdigit() and 1 <= int(text) <= top:
        return int(text)
    return _error(400, f"invalid_{name}", f"{name} must be an integer from 1 to {top}; got {raw!r}")


def ops_router(settings: Settings, engine: Callable[[Request], Engine]) -> APIRouter:
    """The routes; `engine(request)` gives the app's Postgres engine."""
    router = APIRouter(prefix="/v1/ops")
    codec = codec_for(settings)

    async def guarded(work: Callable[[], Any]) -> Response:
        try:
            return _json(200, await asyncio.to_thread(work))
        except NoSuchLetter as exc:
            return _error(404, "not_found", str(exc))
        except OpsError as exc:
            return _error(503, "unavailable", str(exc))

    @router.get("/overview")
    async def get_overview(request: Request) -> Response:
        return await guarded(lambda: overview(settings, engine(request)))

    @router.get("/segments/history")
    async def get_history(request: Request, days: str | None = None) -> Response:
        count = _bounded(days, 30, MAX_HISTORY_DAYS, "days")
        if isinstance(count, Response):
            return count
        return await guarded(lambda: segment_history(engine(request), count))

    @router.get("/dlq")
    async def get_letters(limit: str | None = None) -> Response:
        newest = _bounded(limit, DEFAULT_LETTERS, MAX_LETTERS, "limit")
        if isinstance(newest, Response):
            return newest

        def work() -> dict[str, Any]:
            consumer = ops_consumer(settings)
            try:
                letters, total = read_letters(consumer, codec, settings.topics.dlq, newest)
            finally:
                consumer.close()
            return {"total": total, "letters": [x.as_json() for x in letters[:newest]]}

        return await guarded(work)

    @router.post("/dlq/replay")
    async def replay(request: Request) -> Response:
        """Body ``{"partition": p, "offset": o}`` for one letter, ``{"all": true}`` for every one."""
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError as exc:
            return _error(400, "invalid_json", f"the body is not JSON: {exc}")
        target = _replay_target(body)
        if isinstance(target, Response):
            return target
        return await guarded(lambda: _replay(settings, codec, target))

    return router


def _replay_target(body: Any) -> tuple[int, int] | Response | None:
    """(partition, offset) for one letter, None for all, or a 400 response."""
    if isinstance(body, dict) and body.get("all") is True:
        return None
    if (
        isinstance(body, dict)
        and isinstance(body.get("partition"), int)
        and isinstance(body.get("offset"), int)
    ):
        return int(body["partition"]), int(body["offset"])
    return _error(
        400,
        "invalid_replay",
        'send {"partition": P, "offset": O} for one letter or {"all": true} for every letter',
    )


def _replay(settings: Settings, codec: Any, target: tuple[int, int] | None) -> dict[str, Any]:
    consumer = ops_consumer(settings)
    try:
        letters: list[Letter]
        if target is None:
            letters, _ = read_letters(consumer, codec, settings.topics.dlq, 10**9)
        else:
            letters = [read_letter(consumer, codec, settings.topics.dlq, *target)]
    finally:
        consumer.close()
    replayed, refused = replay_letters(settings, codec, letters)
    return {
        "replayed": [{"partition": x.partition, "offset": x.offset} for x in replayed],
        "refused": [
            {"partition": x.partition, "offset": x.offset, "reason": why} for x, why in refused
        ],
    }
