"""`/v1/segments`: create, replace, delete, read and preview segments over HTTP.

Mounted into the API app. Reading and previewing need ``profiles:read`` (a preview shows
profiles; its sample's PII is masked without ``pii:read``), creating, replacing and deleting need
``segments:write``; writes and previews are written to the audit log. Errors are JSON
`{"code", "message"}`, and an invalid definition is a 400 `invalid_segment` whose message names
the bad part.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from sqlalchemy.engine import Engine
from starlette.responses import Response

from cdp.activation.operations import apply_definitions, list_segments, preview, remove_segment
from cdp.activation.segments import SegmentDefinition, SegmentDefinitionError, parse_segment
from cdp.activation.segments.model import SLUG
from cdp.audit import record_now
from cdp.auth import PiiMask, Principal, ProfileReader, Role, SegmentWriter, redact
from cdp.errors import CdpError
from cdp.settings import Settings

__all__ = ["MAX_DEFINITION_BYTES", "SegmentApiError", "segments_router"]

#: The largest segment definition body read: real definitions are a few kilobytes, and a cap
#: keeps a huge body from being buffered and parsed at all.
MAX_DEFINITION_BYTES = 1024 * 1024


class SegmentApiError(CdpError):
    """A refusal answered with `status` and ``{"code", "message"}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _json(status: int, body: Any) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


async def _body(request: Request) -> bytes:
    """The request body, or `SegmentApiError` 413 as soon as it exceeds `MAX_DEFINITION_BYTES`."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_DEFINITION_BYTES:
            raise SegmentApiError(
                413, "too_large", f"a segment definition is at most {MAX_DEFINITION_BYTES} bytes"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _known_slug(slug: str) -> str:
    """`slug`, or `SegmentApiError` 404 when it cannot name a segment (so never reaches SQL)."""
    if not SLUG.fullmatch(slug):
        raise SegmentApiError(404, "not_found", f"no segment {slug!r}")
    return slug


async def _definition(request: Request, slug: str | None = None) -> SegmentDefinition:
    try:
        data = orjson.loads(await _body(request))
    except orjson.JSONDecodeError as exc:
        raise SegmentApiError(400, "invalid_json", f"the body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise SegmentApiError(400, "invalid_segment", "a segment definition is a JSON object")
    if slug is not None:
        data.setdefault("slug", slug)
        if data["slug"] != slug:
            raise SegmentApiError(
                400, "invalid_segment", f"slug {data['slug']!r} differs from the path's {slug!r}"
            )
    try:
        return parse_segment(data)
    except SegmentDefinitionError as exc:
        raise SegmentApiError(400, "invalid_segment", str(exc)) from exc


def segments_router(
    settings: Settings, engine: Callable[[Request], Engine], mask: PiiMask
) -> APIRouter:
    """The routes; `engine(request)` gives the app's Postgres engine, `mask` the PII to hide."""
    router = APIRouter(prefix="/v1/segments")

    async def audit(
        request: Request,
        principal: Principal,
        slug: str,
        outcome: str,
        action: str = "segment.write",
        **detail: Any,
    ) -> None:
        await asyncio.to_thread(
            record_now,
            engine(request),
            actor=principal.key_id,
            action=action,
            target=f"segment:{slug}",
            outcome=outcome,
            detail={"method": request.method, **detail},
        )

    async def save(
        request: Request, principal: Principal, definition: SegmentDefinition, status: int
    ) -> Response:
        try:
            [applied] = await asyncio.to_thread(
                apply_definitions, settings, engine(request), [definition]
            )
        except SegmentDefinitionError as exc:
            raise SegmentApiError(400, "invalid_segment", str(exc)) from exc
        await audit(request, principal, applied.slug, applied.action, version=applied.version)
        return _json(
            status if applied.action == "created" else 200,
            {"slug": applied.slug, "action": applied.action, "version": applied.version},
        )

    @router.get("")
    async def list_all(request: Request, _principal: ProfileReader) -> Response:
        return _json(200, {"segments": await asyncio.to_thread(list_segments, engine(request))})

    @router.post("")
    async def create(request: Request, principal: SegmentWriter) -> Response:
        definition = await _definition(request)
        existing = {
            s["slug"]
            for s in await asyncio.to_thread(list_segments, engine(request))
            if s["state"] == "active"
        }
        if definition.slug in existing:
            await audit(request, principal, definition.slug, "conflict")
            raise SegmentApiError(
                409,
                "conflict",
                f"segment {definition.slug!r} exists; PUT /v1/segments/{definition.slug} replaces it",
            )
        return await save(request, principal, definition, 201)

    @router.post("/preview")
    async def preview_definition(request: Request, principal: ProfileReader) -> Response:
        definition = await _definition(request)
        result = await asyncio.to_thread(preview, engine(request), definition)
        clear = principal.can(Role.PII_READ)
        await audit(
            request,
            principal,
            definition.slug,
            "ok",
            action="segment.preview",
            size=result.size,
            sampled=[s["profile_id"] for s in result.sample],
            pii=clear,
        )
        body = {"size": result.size, "sample": result.sample}
        return _json(200, body if clear else redact(body, mask))

    @router.get("/{slug}")
    async def read(request: Request, _principal: ProfileReader, slug: str) -> Response:
        _known_slug(slug)
        for segment in await asyncio.to_thread(list_segments, engine(request)):
            if segment["slug"] == slug:
                return _json(200, segment)
        raise SegmentApiError(404, "not_found", f"no segment {slug!r}")

    @router.put("/{slug}")
    async def replace(request: Request, principal: SegmentWriter, slug: str) -> Response:
        return await save(request, principal, await _definition(request, slug), 201)

    @router.delete("/{slug}")
    async def delete(request: Request, principal: SegmentWriter, slug: str) -> Response:
        _known_slug(slug)
        if not await asyncio.to_thread(remove_segment, engine(request), slug):
            await audit(request, principal, slug, "not_found")
            raise SegmentApiError(404, "not_found", f"no active segment {slug!r}")
        await audit(request, principal, slug, "deleted")
        return _json(200, {"slug": slug, "action": "deleted"})

    return router
