"""`/v1/privacy`: data subject requests over HTTP, mounted in the profile API behind the
``privacy:admin`` role.

Who asked is the key the role check put on ``request.state.principal`` (``api:<key id>``,
``api:bootstrap`` for the settings token); ``api:token`` only if the router is mounted without it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import APIRouter, BackgroundTasks, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response, StreamingResponse

from cdp.privacy.errors import InvalidSubject, InvalidTransition, SubjectNotFound
from cdp.settings import Settings

if TYPE_CHECKING:
    from cdp.privacy.service import PrivacyService

__all__ = ["privacy_router"]

DEFAULT_PRINCIPAL = "api:token"


class SubjectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    identifier: str = Field(min_length=3, max_length=2048)


class ConsentBody(SubjectBody):
    purpose: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    granted: bool
    timestamp: datetime | None = None


def _json(status: int, body: Any) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _error(status: int, code: str, message: str) -> Response:
    return _json(status, {"code": code, "message": message})


def _who(request: Request) -> str:
    principal = getattr(request.state, "principal", None)
    return f"api:{principal.key_id}" if principal is not None else DEFAULT_PRINCIPAL


def privacy_router(settings: Settings) -> APIRouter:
    """The routes; each request opens its own short Postgres connection (see `PrivacyService`).

    The service is imported here, not at the top: `cdp.profiles` mounts this router, and the
    service imports `cdp.profiles` modules."""
    from cdp.privacy.service import PrivacyService

    service = PrivacyService(settings)
    router = APIRouter(prefix="/v1/privacy")

    @router.post("/export")
    async def export(request: Request, body: SubjectBody) -> Response:
        try:
            started = await asyncio.to_thread(service.start_export, body.identifier, _who(request))
        except InvalidSubject as exc:
            return _error(400, "invalid_identifier", str(exc))
        except SubjectNotFound:
            return _error(404, "not_found", "no profile holds this identifier")
        return StreamingResponse(
            started.chunks(),
            media_type="application/json",
            headers={"X-Privacy-Request": str(started.request_id)},
        )

    @router.post("/delete")
    async def delete(request: Request, body: SubjectBody, tasks: BackgroundTasks) -> Response:
        try:
            request_id = await asyncio.to_thread(
                service.request_deletion, body.identifier, _who(request)
            )
        except InvalidSubject as exc:
            return _error(400, "invalid_identifier", str(exc))
        tasks.add_task(_run_deletion, service, request_id)
        return _json(202, {"request_id": str(request_id), "status": "pending"})

    @router.post("/suppress")
    async def suppress(request: Request, body: SubjectBody) -> Response:
        try:
            done = await asyncio.to_thread(service.suppress, body.identifier, _who(request))
        except InvalidSubject as exc:
            return _error(400, "invalid_identifier", str(exc))
        return _json(200, done)

    @router.post("/consent")
    async def consent(request: Request, body: ConsentBody) -> Response:
        try:
            done = await asyncio.to_thread(
                service.consent,
                body.identifier,
                body.purpose,
                body.granted,
                body.timestamp,
                _who(request),
            )
        except InvalidSubject as exc:
            return _error(400, "invalid_identifier", str(exc))
        except SubjectNotFound:
            return _error(404, "not_found", "no profile holds this identifier")
        return _json(200, done)

    @router.get("/requests/{request_id}")
    async def status(request_id: str) -> Response:
        if not (request_id.isascii() and request_id.isdigit() and int(request_id) < 2**63):
            return _error(404, "not_found", f"no privacy request {request_id!r}")
        found = await asyncio.to_thread(service.status, int(request_id))
        if found is None:
            return _error(404, "not_found", f"no privacy request {request_id}")
        return _json(200, found)

    return router


def _run_deletion(service: PrivacyService, request_id: int) -> None:
    """Run the job after the 202 went out; a job another worker took is left to it."""
    try:
        service.run_deletion(request_id)
    except InvalidTransition:
        return
