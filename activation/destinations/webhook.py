"""One webhook attempt: a signed JSON POST, its answer sorted into success, retryable or terminal.

Retryable: timeouts, connection errors, 408, 429 and 5xx (`Retry-After` honoured, in seconds or as an
HTTP date). Terminal: every other 4xx and any 3xx (redirects are not followed: a moved endpoint is a
configuration error, and following would re-post the body somewhere unchecked).
"""

from __future__ import annotations

import aiohttp

from cdp.activation.destinations.backoff import parse_retry_after
from cdp.activation.destinations.config import WebhookChannel
from cdp.activation.destinations.errors import DeliveryFailed, DeliveryRetryable
from cdp.activation.destinations.http_client import HttpAnswer, WebhookClient
from cdp.activation.destinations.signing import signature_headers

__all__ = ["RETRYABLE_STATUS", "WebhookSender"]

RETRYABLE_STATUS = frozenset({408, 429})
USER_AGENT = "cdp-webhooks/1"


class WebhookSender:
    """Sends bodies to one webhook endpoint through `client`."""

    def __init__(self, channel: WebhookChannel, client: WebhookClient) -> None:
        self._channel = channel
        self._client = client
        self._secret = channel.secret.get_secret_value()

    async def send(self, body: bytes) -> None:
        """POST `body` once; returns on 2xx, raises `DeliveryRetryable` or `DeliveryFailed`."""
        channel = self._channel
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **channel.headers,
            **signature_headers(self._secret, body),
        }
        try:
            answer = await self._client.post(channel.url, body, headers, channel.timeout_s)
        except TimeoutError as exc:
            raise DeliveryRetryable("timeout", f"no answer within {channel.timeout_s}s") from exc
        except aiohttp.ClientError as exc:
            raise DeliveryRetryable("connection_error", f"{type(exc).__name__}: {exc}") from exc
        classify(answer)


def classify(answer: HttpAnswer) -> None:
    """Raise for anything but 2xx, as retryable or terminal per the module's rules."""
    status = answer.status
    if 200 <= status < 300:
        return
    if status in RETRYABLE_STATUS or status >= 500:
        raise DeliveryRetryable(
            f"http_{status}", answer.text, parse_retry_after(answer.retry_after)
        )
    raise DeliveryFailed(f"http_{status}", answer.text)
