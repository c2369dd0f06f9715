"""A pool of single-connection httpx clients, one per request in flight.

httpcore's connection pool re-scans every connection for every queued request (about 800 idle checks
per request at 32 in flight, profiled here), which made one shared client spend most of the
delivery CPU in pool bookkeeping. A client per slot, each keeping one connection alive, does the
same work without the scan. The clients share one TLS context: loading the CA bundle costs about
0.17 s of CPU per context here.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

__all__ = ["ClientPool"]


class ClientPool:
    """`size` clients; `client()` lends one for a request and takes it back afterwards."""

    def __init__(self, size: int, tls: ssl.SSLContext | None = None) -> None:
        tls = tls or (ssl.create_default_context() if size else None)
        self._idle: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
        self._all = [
            httpx.AsyncClient(
                follow_redirects=False,
                verify=tls or True,
                limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            )
            for _ in range(size)
        ]
        for client in self._all:
            self._idle.put_nowait(client)

    @asynccontextmanager
    async def client(self) -> AsyncIterator[httpx.AsyncClient]:
        lent = await self._idle.get()
        try:
            yield lent
        finally:
            self._idle.put_nowait(lent)

    async def aclose(self) -> None:
        for client in self._all:
            await client.aclose()
