"""One webhook attempt over real local sockets: what is sent, and how failures are sorted."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from cdp.activation.destinations.config import WebhookChannel
from cdp.activation.destinations.errors import DeliveryFailed, DeliveryRetryable
from cdp.activation.destinations.http_client import WebhookClient, proxy_for
from cdp.activation.destinations.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from cdp.activation.destinations.webhook import WebhookSender
from cdp.embedded import free_port

SECRET = "whsec_test"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def channel(url: str, timeout_s: float = 2.0) -> WebhookChannel:
    return WebhookChannel(
        type="webhook",
        url=url,
        secret=SECRET,
        timeout_s=timeout_s,
        headers={"X-Team": "growth"},
    )


async def serve(
    routes: dict[str, Handler], work: Callable[[str], Awaitable[Any]], host: str = "127.0.0.1"
) -> Any:
    """Run `work(base_url)` while a local server answers `routes` on `host`."""
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_post(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        return await work(f"http://{host}:{port}")
    finally:
        await runner.cleanup()


async def send_once(url: str, body: bytes, timeout_s: float = 2.0) -> None:
    client = WebhookClient(2)
    try:
        await WebhookSender(channel(url, timeout_s), client).send(body)
    finally:
        await client.aclose()


def test_the_body_goes_signed_with_the_channel_headers_and_no_cookie_comes_back() -> None:
    seen: list[tuple[bytes, dict[str, str]]] = []

    async def hook(request: web.Request) -> web.Response:
        seen.append((await request.read(), dict(request.headers)))
        response = web.Response(status=204)
        response.set_cookie("session", "abc")
        return response

    async def work(base: str) -> None:
        client = WebhookClient(2)
        sender = WebhookSender(channel(f"{base}/hook"), client)
        await sender.send(b'{"n":1}')
        await sender.send(b'{"n":2}')
        await client.aclose()

    # By name: a client keeping cookies would not keep one set by an IP address.
    asyncio.run(serve({"/hook": hook}, work, host="localhost"))

    assert [body for body, _ in seen] == [b'{"n":1}', b'{"n":2}']
    for body, headers in seen:
        assert headers["Content-Type"] == "application/json"
        assert headers["X-Team"] == "growth"
        assert "Cookie" not in headers
        assert verify(SECRET, body, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER])


def test_a_redirect_is_terminal_and_not_followed() -> None:
    followed: list[str] = []

    async def moved(_request: web.Request) -> web.Response:
        raise web.HTTPFound("/elsewhere")

    async def elsewhere(request: web.Request) -> web.Response:
        followed.append(request.path)
        return web.Response(status=200)

    async def work(base: str) -> None:
        with pytest.raises(DeliveryFailed) as caught:
            await send_once(f"{base}/moved", b"{}")
        assert caught.value.reason == "http_302"

    asyncio.run(serve({"/moved": moved, "/elsewhere": elsewhere}, work))
    assert followed == []


def test_a_refused_connection_is_retryable() -> None:
    with pytest.raises(DeliveryRetryable) as caught:
        asyncio.run(send_once(f"http://127.0.0.1:{free_port()}/hook", b"{}"))
    assert caught.value.reason == "connection_error"


def test_no_answer_in_time_is_a_retryable_timeout() -> None:
    async def slow(_request: web.Request) -> web.Response:
        await asyncio.sleep(1.5)
        return web.Response(status=200)

    async def work(base: str) -> None:
        with pytest.raises(DeliveryRetryable) as caught:
            await send_once(f"{base}/slow", b"{}", timeout_s=0.2)
        assert caught.value.reason == "timeout"

    asyncio.run(serve({"/slow": slow}, work))


def test_an_error_answer_keeps_the_start_of_its_body() -> None:
    async def broken(_request: web.Request) -> web.Response:
        return web.Response(status=503, text="x" * 5000, headers={"Retry-After": "7"})

    async def work(base: str) -> None:
        with pytest.raises(DeliveryRetryable) as caught:
            await send_once(f"{base}/broken", b"{}")
        assert caught.value.reason == "http_503"
        assert caught.value.retry_after_s == 7.0
        assert str(caught.value) == "http_503: " + "x" * 200

    asyncio.run(serve({"/broken": broken}, work))


def test_the_proxy_comes_from_the_environment_unless_no_proxy_names_the_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,.corp.example")
    proxy_for.cache_clear()
    try:
        assert proxy_for("https://crm.example.com/hooks") == "http://proxy.internal:3128"
        assert proxy_for("http://crm.example.com/hooks") is None
        assert proxy_for("https://hooks.corp.example/in") is None
        assert proxy_for("https://localhost:8443/in") is None
    finally:
        proxy_for.cache_clear()
