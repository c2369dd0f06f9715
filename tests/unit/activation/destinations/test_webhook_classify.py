"""Which webhook answers are retried, and which end delivery."""

from __future__ import annotations

import httpx
import pytest

from cdp.activation.destinations.errors import DeliveryFailed, DeliveryRetryable
from cdp.activation.destinations.webhook import classify


@pytest.mark.parametrize("status", [200, 201, 204])
def test_2xx_is_delivered(status: int) -> None:
    classify(httpx.Response(status))


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_answers(status: int) -> None:
    with pytest.raises(DeliveryRetryable) as caught:
        classify(httpx.Response(status, headers={"Retry-After": "3"}))
    assert caught.value.retry_after_s == 3.0
    assert caught.value.reason == f"http_{status}"


@pytest.mark.parametrize("status", [301, 400, 401, 403, 404, 410, 422])
def test_terminal_answers(status: int) -> None:
    with pytest.raises(DeliveryFailed) as caught:
        classify(httpx.Response(status, text="nope"))
    assert caught.value.reason == f"http_{status}"
