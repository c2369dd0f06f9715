"""One webhook attempt: a signed JSON POST, its answer sorted into success, retryable or terminal.

Retryable: timeouts, connection errors, 408, 429 and 5xx (`Retry-After` honoured, in seconds or as an
HTTP date). Terminal: every other 4xx and any 3xx (redirects are not followed: a moved endpoint is a
configuration error, and following would re-post the body somewhere unchecked).
"""

from __future__ import annotations

import httpx

from cdp.activation.destinations.backoff import parse_retry_after
from cdp.activation.destinations.config import WebhookChannel
from cdp.activation.destinations.errors import DeliveryFailed, DeliveryRetryable
from cdp.activation.destinations.http_pool import ClientPool
from cdp.activation.destinations.signing import signature_headers

__all__ = ["RETRYABLE_STATUS", "WebhookSender"]

RETRYABLE_STATUS = frozenset({408, 429})
USER_AGENT = "cdp-webhooks/1"


class WebhookSender:
    """Sends bodies to one webhook endpoint over kept-alive connections from `clients`."""

    def __init__(self, channel: WebhookChannel, clients: ClientPool) -> None:
        self._channel = channel
        self._clients = clients
        self._secret = channel.secret.get_secret_value()

    async def send(self, body: bytes) -> None:
        """POST `body` once; returns on 2xx, raises `DeliveryRetryable` or `DeliveryFailed`."""
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **self._channel.headers,
            **signature_headers(self._secret, body),
        }
        try:
            async with self._clients.client() as client:
                response = await client.post(
                    self._channel.url,
                    content=body,
                    headers=headers,
                    timeout=self._channel.timeout_s,
                )
        except httpx.TimeoutException as exc:
            raise DeliveryRetryable(
                "timeout", f"no answer within {self._channel.timeout_s}s"
            ) from exc
        except httpx.HTTPError as exc:
            raise DeliveryRetryable("connection_error", f"{type(exc).__name__}: {exc}") from exc
        classify(response)


def classify(response: httpx.Response) -> None:
    """Raise for anything but 2xx, as retryable or terminal per the module's rules."""
    status = response.status_code
    if 200 <= status < 300:
        return
    text = response.text[:200]
    if status in RETRYABLE_STATUS or status >= 500:
        wait = parse_retry_after(response.headers.get("Retry-After"))
        raise DeliveryRetryable(f"http_{status}", text, wait)
    raise DeliveryFailed(f"http_{status}", text)
