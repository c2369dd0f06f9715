"""The profile read API: a profile by any of its identifiers, with traits, timeline and history.

Every `/v1` route takes a reference ``type:value`` (``email:jane@example.com``,
``user_id:42``, ``profile_id:7``), follows merges to the live profile, and needs
``Authorization: Bearer <API key>`` of a key with ``profiles:read`` (`cdp keys create`; the
settings token `CDP_API_TOKEN` is a bootstrap admin key). Identifiers, PII traits and timeline
values are read decrypted (`cdp.privacy.atrest`), then PII traits and identifier values are
masked unless the key also holds ``pii:read``; every read is written to the audit log.
Errors are JSON with a `code` and a `message`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from cdp.activation.api import SegmentApiError, segments_router
from cdp.audit import record
from cdp.auth import (
    Authenticator,
    AuthError,
    PiiMask,
    Principal,
    ProfileReader,
    Role,
    redact,
    require,
)
from cdp.console import mount_console
from cdp.db import create_engine, ping
from cdp.identity import IdentityRules
from cdp.ops import ops_router
from cdp.privacy.api import privacy_router
from cdp.privacy.atrest import PiiCodec
from cdp.privacy.errors import DecryptionFailed, PiiStateMismatch, UnknownDataKey
from cdp.privacy.keystate import pii_codec
from cdp.profiles.computed.api import computed_traits_router
from cdp.profiles.pii_state import PiiStateGate
from cdp.profiles.read import (
    find_profile,
    profile_events,
    profile_groups,
    profile_identifiers,
    profile_merges,
    profile_segments,
    profile_view,
)
from cdp.settings import Settings

__all__ = [
    "DEFAULT_EVENTS_LIMIT",
    "MAX_EVENTS_LIMIT",
    "ApiError",
    "create_api",
    "decode_cursor",
    "encode_cursor",
    "parse_reference",
]

log = logging.getLogger(__name__)

DEFAULT_EVENTS_LIMIT = 50
MAX_EVENTS_LIMIT = 500
RETRY_AFTER_S = 2

REQUESTS = Counter(
    "cdp_api_requests_total", "Profile API requests, by route and status.", ["route", "status"]
)
LATENCY = Histogram("cdp_api_request_seconds", "Profile API request time, by route.", ["route"])

_Body = dict[str, Any]
_Build = Callable[[Connection, int, PiiCodec], _Body]


class ApiError(Exception):
    """A refusal the API answers with `status` and the JSON body ``{"code", "message"}``."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def parse_reference(ref: str) -> tuple[str, str]:
    """Split ``type:value`` at the first colon; `ApiError` 400 unless both parts are non-empty.

    The value keeps any further colons (``user_id:auth0:42`` is type ``user_id``, value
    ``auth0:42``); matching it to the stored form is `find_profile`'s job.
    """
    id_type, sep, value = ref.partition(":")
    id_type = id_type.strip()
    if not sep or not id_type or not value.strip():
        raise ApiError(
            400,
            "invalid_reference",
            f"a profile reference is type:value, e.g. email:jane@example.com; got {ref!r}",
        )
    return id_type, value


def encode_cursor(event_time: str, message_id: str) -> str:
    """An opaque cursor naming a timeline position (base64url JSON, no padding)."""
    raw = orjson.dumps([event_time, message_id])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The ``(event_time, message_id)`` an `encode_cursor` cursor names; `ApiError` 400 if it is not one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        event_time, message_id = orjson.loads(raw)
        at = datetime.fromisoformat(event_time)
    except (binascii.Error, ValueError, TypeError, orjson.JSONDecodeError) as exc:
        raise ApiError(400, "invalid_cursor", "the cursor is not one this API issued") from exc
    if at.tzinfo is None or not isinstance(message_id, str):
        raise ApiError(400, "invalid_cursor", "the cursor is not one this API issued")
    return at, message_id


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_EVENTS_LIMIT
    text = raw.strip()
    if text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_EVENTS_LIMIT:
        return int(text)
    raise ApiError(
        400, "invalid_limit", f"limit must be an integer from 1 to {MAX_EVENTS_LIMIT}; got {raw!r}"
    )


def _json(status: int, body: _Body, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, media_type="application/json", headers=headers
    )


def _error(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    return _json(status, {"code": code, "message": message}, headers)


@dataclass(frozen=True)
class _Audit:
    """What the audit row of one profile read says; no identifier value, only its type."""

    actor: str
    endpoint: str
    by: str
    clear: bool

    def write(self, conn: Connection, profile_id: int | None, outcome: str) -> None:
        record(
            conn,
            actor=self.actor,
            action="profile.read",
            target=f"profile:{profile_id}" if profile_id is not None else "profile:none",
            outcome=outcome,
            detail={"endpoint": self.endpoint, "by": self.by, "pii": self.clear},
            durable=False,
        )


@dataclass(frozen=True)
class _Reader:
    """Runs one lookup, its reads and its audit row in one repeatable-read transaction."""

    engine: Engine
    rules: IdentityRules
    codec: PiiCodec
    gate: PiiStateGate

    def read(self, id_type: str, value: str, build: _Build, audit: _Audit) -> _Body:
        try:
            self.gate.check(self.engine)
            with self.engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
                profile_id = find_profile(conn, id_type, value, self.rules, self.codec)
                if profile_id is None:
                    audit.write(conn, None, "not_found")
                    conn.commit()
                    raise ApiError(404, "not_found", f"no profile has {id_type}:{value}")
                body = build(conn, profile_id, self.codec)
                audit.write(conn, profile_id, "ok")
                conn.commit()
                return body
        except OperationalError as exc:
            log.warning("profile read failed: %s", exc)
            raise ApiError(
                503,
                "unavailable",
                "the profile store is unavailable; retry shortly",
                {"Retry-After": str(RETRY_AFTER_S)},
            ) from exc
        except PiiStateMismatch as exc:
            log.error("profile read refused: %s", exc)
            raise ApiError(500, "pii_state_mismatch", str(exc)) from exc
        except (DecryptionFailed, UnknownDataKey) as exc:
            log.error("profile read failed to decrypt: %s", exc)
            raise ApiError(
                500, "undecryptable", "a stored value could not be decrypted; see the API's log"
            ) from exc


def create_api(settings: Settings) -> FastAPI:
    """The profile API; its Postgres engine opens with the app's lifespan and is disposed after.

    Every `/v1` route declares the role it needs with `cdp.auth.require`.
    """
    mask = PiiMask.of(
        settings.pii_traits, settings.pii_identifier_types, settings.pii_property_names()
    )
    codec = pii_codec(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings, pool_size=4)
        gate = PiiStateGate(settings)
        try:
            await asyncio.to_thread(gate.check_at_start, engine)
        except BaseException:
            engine.dispose()
            raise
        app.state.reader = _Reader(engine, settings.identity, codec, gate)
        app.state.authenticator = Authenticator(engine, settings)
        try:
            yield
        finally:
            engine.dispose()

    app = FastAPI(title="cdp profile API", lifespan=lifespan, docs_url=None, redoc_url=None)
    v1 = APIRouter(prefix="/v1/profiles")

    async def read(
        request: Request, principal: Principal, ref: str, endpoint: str, build: _Build
    ) -> Response:
        id_type, value = parse_reference(ref)
        reader: _Reader = request.app.state.reader
        clear = principal.can(Role.PII_READ)
        audit = _Audit(principal.key_id, endpoint, id_type, clear)
        body = await asyncio.to_thread(reader.read, id_type, value, build, audit)
        return _json(200, body if clear else redact(body, mask))

    # Sub-resources first: `{ref:path}` may itself contain slashes, so the bare route matches last.
    @v1.get("/{ref:path}/traits")
    async def traits(request: Request, principal: ProfileReader, ref: str) -> Response:
        def build(conn: Connection, profile_id: int, codec: PiiCodec) -> _Body:
            view = profile_view(conn, profile_id, codec)
            return {k: view[k] for k in ("profile_id", "traits", "computed")}

        return await read(request, principal, ref, "traits", build)

    @v1.get("/{ref:path}/identifiers")
    async def identifiers(request: Request, principal: ProfileReader, ref: str) -> Response:
        build = _listing("identifiers", profile_identifiers)
        return await read(request, principal, ref, "identifiers", build)

    @v1.get("/{ref:path}/merges")
    async def merges(request: Request, principal: ProfileReader, ref: str) -> Response:
        build = _listing("merges", lambda conn, pid, _codec: profile_merges(conn, pid))
        return await read(request, principal, ref, "merges", build)

    @v1.get("/{ref:path}/groups")
    async def groups(request: Request, principal: ProfileReader, ref: str) -> Response:
        return await read(request, principal, ref, "groups", _listing("groups", profile_groups))

    @v1.get("/{ref:path}/segments")
    async def segments(request: Request, principal: ProfileReader, ref: str) -> Response:
        build = _listing("segments", lambda conn, pid, _codec: profile_segments(conn, pid))
        return await read(request, principal, ref, "segments", build)

    @v1.get("/{ref:path}/events")
    async def events(
        request: Request,
        principal: ProfileReader,
        ref: str,
        limit: str | None = None,
        cursor: str | None = None,
    ) -> Response:
        size = _limit(limit)
        before = decode_cursor(cursor) if cursor is not None else None

        def build(conn: Connection, profile_id: int, codec: PiiCodec) -> _Body:
            page = profile_events(conn, profile_id, codec, limit=size + 1, before=before)
            more = len(page) > size
            page = page[:size]
            last = page[-1] if more else None
            return {
                "profile_id": str(profile_id),
                "events": page,
                "next_cursor": encode_cursor(last["timestamp"], last["message_id"])
                if last
                else None,
            }

        return await read(request, principal, ref, "events", build)

    @v1.get("/{ref:path}")
    async def profile(request: Request, principal: ProfileReader, ref: str) -> Response:
        def build(conn: Connection, profile_id: int, codec: PiiCodec) -> _Body:
            return {
                **profile_view(conn, profile_id, codec),
                "identifiers": profile_identifiers(conn, profile_id, codec),
            }

        return await read(request, principal, ref, "profile", build)

    app.include_router(v1)
    app.include_router(
        segments_router(settings, lambda request: request.app.state.reader.engine, mask)
    )
    # Operations read dead letters (raw payloads, PII included) and replay them: admin only.
    app.include_router(
        ops_router(settings, lambda request: request.app.state.reader.engine),
        dependencies=[Depends(require(Role.ADMIN))],
    )
    mount_console(app)
    app.include_router(
        privacy_router(settings), dependencies=[Depends(require(Role.PRIVACY_ADMIN))]
    )
    app.include_router(
        computed_traits_router(
            lambda request: request.app.state.reader.engine, settings.pii_names()
        )
    )

    @app.get("/healthz")
    async def healthz() -> Response:
        return _json(200, {"status": "ok"})

    @app.get("/readyz")
    async def readyz(request: Request) -> Response:
        reader: _Reader = request.app.state.reader
        checks = {"postgres": await _postgres_ok(reader.engine)}
        ready = all(checks.values())
        return _json(200 if ready else 503, {"ready": ready, "checks": checks})

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.middleware("http")
    async def measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:
            REQUESTS.labels(_route(request), "500").inc()
            raise
        route = _route(request)
        REQUESTS.labels(route, str(response.status_code)).inc()
        LATENCY.labels(route).observe(time.perf_counter() - started)
        return response

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> Response:
        return _error(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(AuthError)
    async def auth_error(_request: Request, exc: AuthError) -> Response:
        return _error(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(SegmentApiError)
    async def segment_error(_request: Request, exc: SegmentApiError) -> Response:
        return _error(exc.status, exc.code, exc.message)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in exc.errors()
        )
        return _error(422, "invalid_request", problems or "the request is invalid")

    @app.exception_handler(Exception)
    async def internal_error(_request: Request, exc: Exception) -> Response:
        log.error("profile API request failed", exc_info=exc)
        return _error(500, "internal_error", "the request failed; see the API's log")

    return app


def _route(request: Request) -> str:
    """The matched route's template (bounded metric labels), or ``unmatched``."""
    return str(getattr(request.scope.get("route"), "path", "unmatched"))


def _listing(key: str, read: Callable[[Connection, int, PiiCodec], list[_Body]]) -> _Build:
    def build(conn: Connection, profile_id: int, codec: PiiCodec) -> _Body:
        return {"profile_id": str(profile_id), key: read(conn, profile_id, codec)}

    return build


async def _postgres_ok(engine: Engine) -> bool:
    try:
        await asyncio.wait_for(asyncio.to_thread(ping, engine), timeout=3)
    except (SQLAlchemyError, OSError, TimeoutError):
        return False
    return True
