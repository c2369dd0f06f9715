"""The demo's webhook receiver: signed deliveries are passed on, anything else is refused."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from cdp.activation.destinations.signing import signature_headers
from cdp.demo.webhook import DemoReceiver, describe
from cdp.settings import Settings

CHANGE = {
    "change": "entered",
    "segment": "big-spenders",
    "profile_id": 42,
    "identifiers": ["user_id:u-1", "email:jane@example.com"],
}


def test_signed_deliveries_are_passed_on_and_forged_ones_refused() -> None:
    seen: list[dict[str, Any]] = []
    receiver = DemoReceiver(Settings(), ["big-spenders"], seen.append)
    receiver._thread.start()
    try:
        body = orjson.dumps(CHANGE)
        good = httpx.post(
            receiver.url, content=body, headers=signature_headers(receiver._secret, body)
        )
        forged = httpx.post(receiver.url, content=body, headers=signature_headers("guess", body))
    finally:
        receiver._server.shutdown()
        receiver._server.server_close()
    assert (good.status_code, forged.status_code) == (204, 401)
    assert seen == [CHANGE]
    assert (receiver.received, receiver.bad_signatures) == (1, 1)


def test_a_change_is_described_by_its_email_if_it_has_one() -> None:
    line = describe(CHANGE)
    assert line.startswith("webhook: entered")
    assert "big-spenders" in line
    assert "profile 42" in line
    assert line.endswith("(email:jane@example.com)")
    assert describe({**CHANGE, "identifiers": []}).endswith("profile 42")
