"""The demo's own webhook receiver: a local HTTP endpoint registered as a destination, so a
newcomer sees segment entries and exits arrive, signed, within seconds of the events."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from pydantic import SecretStr

from cdp.activation.destinations import signing
from cdp.activation.destinations.config import Destination, WebhookChannel
from cdp.activation.destinations.errors import DestinationNotFound
from cdp.activation.destinations.store import apply_destinations, delete_destination
from cdp.db import create_engine
from cdp.settings import Settings

__all__ = ["DEMO_DESTINATION", "QUIET_S", "DemoReceiver", "describe"]

DEMO_DESTINATION = "demo-webhook"
#: Silence after a delivery that ends the demo's listening early: a run's entries come out of a
#: few processor batches and relay rounds, within a second or two of each other on `cdp up`.
QUIET_S = 5.0


class DemoReceiver:
    """Receives the demo destination's POSTs on 127.0.0.1, checks their signature, and hands
    each change to `on_change`; a context manager that registers the destination on entry and
    deletes it on exit (so no retries pile up once the demo has stopped listening)."""

    def __init__(
        self, settings: Settings, segments: list[str], on_change: Callable[[dict[str, Any]], None]
    ) -> None:
        self._settings = settings
        self._segments = segments
        self._on_change = on_change
        self._secret = secrets.token_urlsafe(24)
        self.received = 0
        self.bad_signatures = 0
        self._arrived = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks/cdp"

    def accept(self, body: bytes, timestamp: str, signature: str) -> bool:
        """Count and pass on a delivery; False (answered 401) if the signature is not ours."""
        if not signing.verify(self._secret, body, timestamp, signature):
            self.bad_signatures += 1
            return False
        self._on_change(orjson.loads(body))
        with self._arrived:
            self.received += 1
            self._arrived.notify_all()
        return True

    def listen(self, seconds: float, quiet_s: float = QUIET_S) -> None:
        """Return after `seconds`, or earlier once deliveries have come and then none for
        `quiet_s`: the demo's user sees the burst of entries and is not kept waiting after it."""
        deadline = time.monotonic() + seconds
        with self._arrived:
            while (left := deadline - time.monotonic()) > 0:
                if not self._arrived.wait(min(left, quiet_s) if self.received else left):
                    return

    def __enter__(self) -> DemoReceiver:
        self._thread.start()
        destination = Destination(
            name=DEMO_DESTINATION,
            segments=self._segments,
            channel=WebhookChannel(url=self.url, secret=SecretStr(self._secret)),
            rate_limit=1000.0,
        )
        engine = create_engine(self._settings, pool_size=1)
        try:
            apply_destinations(engine, [destination])
        finally:
            engine.dispose()
        return self

    def __exit__(self, *_: object) -> None:
        engine = create_engine(self._settings, pool_size=1)
        try:
            delete_destination(engine, DEMO_DESTINATION)
        except DestinationNotFound:
            pass
        finally:
            engine.dispose()
        self._server.shutdown()
        self._server.server_close()


def _handler(receiver: DemoReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            ok = receiver.accept(
                body,
                self.headers.get(signing.TIMESTAMP_HEADER, ""),
                self.headers.get(signing.SIGNATURE_HEADER, ""),
            )
            self.send_response(204 if ok else 401)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


def describe(change: dict[str, Any]) -> str:
    """One line for a delivered change: `entered big-spenders  profile 42  (email:jane@x.com)`."""
    identifiers = [str(i) for i in change.get("identifiers") or []]
    emails = [i for i in identifiers if i.startswith("email:")]
    who = (emails or identifiers or [""])[0]
    suffix = f"  ({who})" if who else ""
    return (
        f"webhook: {change.get('change', '?'):<7} {change.get('segment', '?'):<22} "
        f"profile {change.get('profile_id', '?')}{suffix}"
    )
