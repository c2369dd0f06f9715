"""The HTTP client of a webhook destination's worker: one aiohttp session, `size` connections.

aiohttp rather than httpx: posting a signed change to a local receiver with 32 requests in
flight, httpx (one single-connection client per slot, which had already cut its pool
bookkeeping) took 830-860 µs of client CPU per request and aiohttp 145-150 µs (10,000 requests
each, two runs each, this machine); in `cdp bench webhook` httpx's stack was about half of the
worker's CPU (py-spy). aiohttp is faust-streaming's own HTTP library, so it adds no package.

As before: redirects are not followed, no cookies are kept, proxies and CA settings come from
the environment (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`, `SSL_CERT_FILE`), and the connections
share one TLS context (loading the CA bundle costs about 0.17 s of CPU per context here). The
proxy is looked up once per URL rather than by aiohttp's `trust_env`, which reads `~/.netrc`
(in a thread) and the environment for every request: in `cdp bench webhook` that was about half
of the worker's CPU (py-spy).
"""

from __future__ import annotations

import ssl
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

import aiohttp

__all__ = ["HttpAnswer", "WebhookClient", "proxy_for"]

#: How much of an error answer's body is kept for the status and the dead letter.
ANSWER_TEXT_CHARS = 200


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """What a delivery needs of an HTTP answer."""

    status: int
    retry_after: str | None
    text: str


class WebhookClient:
    """Posts bodies over at most `size` kept-alive connections; opened at the first request,
    which must come from the event loop that will use it."""

    def __init__(self, size: int, tls: ssl.SSLContext | None = None) -> None:
        self._size = size
        self._tls = tls
        self._session: aiohttp.ClientSession | None = None

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout_s: float
    ) -> HttpAnswer:
        """POST `body` once. Raises `TimeoutError` when no answer came within `timeout_s`,
        `aiohttp.ClientError` when the connection failed."""
        session = self._session or self._open()
        async with session.post(
            url,
            data=body,
            headers=headers,
            allow_redirects=False,
            proxy=proxy_for(url),
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as response:
            content = await response.read()
            text = "" if response.status < 300 else _text(content)
            return HttpAnswer(response.status, response.headers.get("Retry-After"), text)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _open(self) -> aiohttp.ClientSession:
        tls = self._tls or ssl.create_default_context()
        connector = aiohttp.TCPConnector(limit=max(1, self._size), ssl=tls)
        self._session = aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar()
        )
        return self._session


@cache
def proxy_for(url: str) -> str | None:
    """The proxy the environment names for `url` (None: connect directly), as `urllib` reads
    `<scheme>_proxy` and `no_proxy`; one lookup per URL for the life of the process."""
    proxies = urllib.request.getproxies_environment()
    parts = urlsplit(url)
    if parts.hostname is None or urllib.request.proxy_bypass(parts.hostname):
        return None
    return proxies.get(parts.scheme)


def _text(content: bytes) -> str:
    return content[: ANSWER_TEXT_CHARS * 4].decode("utf-8", "replace")[:ANSWER_TEXT_CHARS]
