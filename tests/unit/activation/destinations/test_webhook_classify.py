"""Which webhook answers are retried, and which end delivery."""

from __future__ import annotations

import pytest

from cdp.activation.destinations.errors import DeliveryFailed, DeliveryRetryable
from cdp.activation.destinations.http_client import HttpAnswer
from cdp.activation.destinations.webhook import classify


@pytest.mark.parametrize("status", [200, 201, 204])
def test_2xx_is_delivered(status: int) -> None:
    classify(HttpAnswer(status, None, ""))


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_answers(status: int) -> None:
    with pytest.raises(DeliveryRetryable) as caught:
        classify(HttpAnswer(status, "3", "busy"))
    assert caught.value.retry_after_s == 3.0
    assert caught.value.reason == f"http_{status}"


@pytest.mark.parametrize("status", [301, 400, 401, 403, 404, 410, 422])
def test_terminal_answers(status: int) -> None:
    with pytest.raises(DeliveryFailed) as caught:
        classify(HttpAnswer(status, None, "nope"))
    assert caught.value.reason == f"http_{status}"
    assert "nope" in str(caught.value)
