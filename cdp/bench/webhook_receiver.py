"""The webhook receiver of `cdp bench webhook`: answers every POST 200 and counts them.

`GET /` returns `{"count": n, "first": t0, "last": t1}` (wall-clock seconds of the first and last
POST), which is all the benchmark needs. Run with `uvicorn cdp.bench.webhook_receiver:app`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

__all__ = ["app"]

_stats: dict[str, float] = {"count": 0, "first": 0.0, "last": 0.0}

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = bool(message.get("more_body"))
    body = b""
    if scope["method"] == "POST":
        now = time.time()
        if not _stats["count"]:
            _stats["first"] = now
        _stats["count"] += 1
        _stats["last"] = now
    else:
        body = orjson.dumps(_stats)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
