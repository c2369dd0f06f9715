"""`/v1/computed-traits`: create, replace, delete and read configured computed traits over HTTP.

Mounted next to `/v1/segments` behind the same bearer token; refusals are JSON `{"code",
"message"}` (an invalid definition is a 400 `invalid_trait` naming the bad part).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from sqlalchemy.engine import Engine
from starlette.responses import Response

from cdp.activation.api import SegmentApiError
from cdp.audit import record_now
from cdp.auth import Principal, Role, SegmentWriter, require
from cdp.privacy.names import PiiNames
from cdp.profiles.computed.catalog import AppliedTrait, apply_traits, delete_trait, list_traits
from cdp.profiles.computed.errors import TraitDefinitionError
from cdp.profiles.computed.model import TraitDefinition, parse_trait
from cdp.profiles.computed.pii import check_pii_traits

__all__ = ["computed_traits_router"]

#: No name is PII (a router built without settings, in tests).
NO_PII = PiiNames(frozenset(), frozenset())


def _json(status: int, body: Any) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


async def _definition(request: Request, name: str | None = None) -> TraitDefinition:
    try:
        data = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise SegmentApiError(400, "invalid_json", f"the body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise SegmentApiError(400, "invalid_trait", "a computed-trait definition is a JSON object")
    if name is not None:
        data.setdefault("name", name)
        if data["name"] != name:
            raise SegmentApiError(
                400, "invalid_trait", f"name {data['name']!r} differs from the path's {name!r}"
            )
    try:
        return parse_trait(data)
    except TraitDefinitionError as exc:
        raise SegmentApiError(400, "invalid_trait", str(exc)) from exc


def _apply(engine: Engine, definition: TraitDefinition) -> AppliedTrait:
    with engine.begin() as conn:
        [applied] = apply_traits(conn, [definition])
    return applied


def _list(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return list_traits(conn)


def _delete(engine: Engine, name: str) -> bool:
    with engine.begin() as conn:
        return delete_trait(conn, name)


def computed_traits_router(
    engine: Callable[[Request], Engine], pii_names: PiiNames = NO_PII
) -> APIRouter:
    """The routes; `engine(request)` gives the app's Postgres engine. A definition over a
    property `pii_names` says is PII is refused (`cdp.profiles.computed.pii`)."""
    router = APIRouter(prefix="/v1/computed-traits")

    async def audit(request: Request, principal: Principal, name: str, outcome: str) -> None:
        await asyncio.to_thread(
            record_now,
            engine(request),
            actor=principal.key_id,
            action="computed_trait.write",
            target=f"computed_trait:{name}",
            outcome=outcome,
        )

    async def save(request: Request, principal: Principal, definition: TraitDefinition) -> Response:
        try:
            check_pii_traits([definition], pii_names)
        except TraitDefinitionError as exc:
            raise SegmentApiError(400, "invalid_trait", str(exc)) from exc
        applied = await asyncio.to_thread(_apply, engine(request), definition)
        await audit(request, principal, applied.name, applied.action)
        body = {"name": applied.name, "action": applied.action, "version": applied.version}
        return _json(201 if applied.action == "created" else 200, body)

    @router.get("", dependencies=[Depends(require(Role.PROFILES_READ))])
    async def list_all(request: Request) -> Response:
        return _json(200, {"computed_traits": await asyncio.to_thread(_list, engine(request))})

    @router.post("")
    async def create(request: Request, principal: SegmentWriter) -> Response:
        definition = await _definition(request)
        existing = await asyncio.to_thread(_list, engine(request))
        if any(t["name"] == definition.name and t["state"] == "active" for t in existing):
            raise SegmentApiError(
                409,
                "conflict",
                f"computed trait {definition.name!r} exists; "
                f"PUT /v1/computed-traits/{definition.name} replaces it",
            )
        return await save(request, principal, definition)

    @router.get("/{name}", dependencies=[Depends(require(Role.PROFILES_READ))])
    async def read(request: Request, name: str) -> Response:
        for trait in await asyncio.to_thread(_list, engine(request)):
            if trait["name"] == name:
                return _json(200, trait)
        raise SegmentApiError(404, "not_found", f"no computed trait {name!r}")

    @router.put("/{name}")
    async def replace(request: Request, principal: SegmentWriter, name: str) -> Response:
        return await save(request, principal, await _definition(request, name))

    @router.delete("/{name}")
    async def delete(request: Request, principal: SegmentWriter, name: str) -> Response:
        if not await asyncio.to_thread(_delete, engine(request), name):
            await audit(request, principal, name, "not_found")
            raise SegmentApiError(404, "not_found", f"no active computed trait {name!r}")
        await audit(request, principal, name, "deleted")
        return _json(200, {"name": name, "action": "deleted"})

    return router
