"""The demo's webhook receiver: signed deliveries are passed on, anything else is refused."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import orjson

from cdp.activation.destinations.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature_headers,
)
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


def _deliver(receiver: DemoReceiver, count: int) -> None:
    for _ in range(count):
        body = orjson.dumps(CHANGE)
        headers = signature_headers(receiver._secret, body)
        receiver.accept(body, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER])


def test_listening_ends_once_deliveries_stop() -> None:
    receiver = DemoReceiver(Settings(), ["big-spenders"], lambda _: None)
    sender = threading.Timer(0.05, _deliver, (receiver, 3))
    sender.start()
    listener = threading.Thread(target=receiver.listen, args=(600.0, 0.2), daemon=True)
    listener.start()
    listener.join(timeout=60)
    sender.join()
    assert not listener.is_alive(), "still listening long after the last delivery"
    assert receiver.received == 3


def test_listening_without_deliveries_waits_the_whole_time() -> None:
    receiver = DemoReceiver(Settings(), ["big-spenders"], lambda _: None)
    started = time.monotonic()
    receiver.listen(0.5, quiet_s=0.01)
    assert time.monotonic() - started >= 0.5
    assert receiver.received == 0
