"""The timeline's PII sealed in a child process, off the processor's GIL.

Sealing a batch's timeline texts (identify and group traits, PII-named properties, context
values) is Python CPU work, about 6 µs an event in `cdp bench pipeline`. The processor's two
threads (one applying batch N, one preparing batch N+1) share one GIL, so in-process that work
delayed the batch being applied by as much as it cost. A child process does it on another core
instead: the prepare thread sends the batch's texts (`SealingProcess.send`), extracts the
identifiers meanwhile, and takes the sealed texts back (`SealingProcess.receive`).

The child seals with `TimelineSealer.seal_timeline` (`cdp.privacy.timeline`), as the processor
does in-process, so where a batch is sealed changes nothing a reader of the timeline sees (only
the nonces of its ciphertexts differ, as they do between any two sealings). When the child
fails (killed, crashed, no reply within `REPLY_TIMEOUT_S`) the batch is sealed in the
processor, the failure is logged and counted (`SEAL_FALLBACKS`), and a new child starts with
the next batch.

Each process counts its AES-GCM nonces from its own random start (`cdp.privacy.crypto`).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from cdp.privacy.atrest import PiiCodec
from cdp.privacy.names import TRAIT_PAYLOADS
from cdp.privacy.timeline import Item, Sealed, serve
from cdp.profiles.events import InEvent
from cdp.profiles.observability import SEAL_FALLBACKS

__all__ = ["SealingProcess"]

log = logging.getLogger(__name__)

#: Longest wait for the child's reply to one batch. It seals a 5,000-event batch in tens of
#: milliseconds; a minute means it is stuck, and the processor seals the batch itself.
REPLY_TIMEOUT_S = 60.0
#: How long closing waits for the child to exit before terminating it.
JOIN_TIMEOUT_S = 2.0


def _items(events: list[InEvent]) -> list[Item]:
    return [
        (e.type, e.traits_json if e.type in TRAIT_PAYLOADS else e.properties_json, e.context_json)
        for e in events
    ]


class SealingProcess:
    """A child process that seals timeline texts for one processor, started at the first
    batch (or by `start`). Used by one thread at a time: each `send` is followed by one `receive`."""

    def __init__(self, codec: PiiCodec) -> None:
        self._args = codec.child_args()
        self._conn: Connection | None = None
        self._child: BaseProcess | None = None
        self._sent = 0

    @property
    def pid(self) -> int | None:
        """The child's process id, while one runs."""
        return self._child.pid if self._child is not None else None

    def send(self, events: list[InEvent]) -> bool:
        """Hand the events' texts to the child; False if it cannot take them (the caller
        then seals them itself and does not call `receive`)."""
        try:
            if self._conn is None:
                self.start()
            assert self._conn is not None
            self._sent += 1
            self._conn.send((self._sent, _items(events)))
        except (OSError, ValueError) as exc:
            self._failed(exc)
            return False
        return True

    def receive(self, count: int) -> list[Sealed] | None:
        """The sealed texts of the `count` events sent last, in order; None when the child
        did not seal them (the caller seals them itself). Requests are numbered, so a reply
        can never be taken for another request's."""
        assert self._conn is not None, "receive() without send()"
        try:
            if not self._conn.poll(REPLY_TIMEOUT_S):
                raise TimeoutError(f"no reply in {REPLY_TIMEOUT_S:.0f} s")
            number, reply = self._conn.recv()
        except (EOFError, OSError, TimeoutError, TypeError, ValueError) as exc:
            self._failed(exc)
            return None
        if number != self._sent:
            self._failed(RuntimeError(f"reply {number} to request {self._sent}"))
            return None
        if not isinstance(reply, list) or len(reply) != count:
            SEAL_FALLBACKS.inc()
            log.warning("processor: the sealing process could not seal a batch; sealed here")
            return None
        return reply

    def close(self) -> None:
        """Stop the child (asked first, terminated if it does not exit in time)."""
        conn, child = self._conn, self._child
        self._conn = self._child = None
        if conn is not None:
            with contextlib.suppress(OSError, ValueError):
                conn.send(None)
            conn.close()
        if child is not None:
            child.join(JOIN_TIMEOUT_S)
            if child.is_alive():
                child.terminate()
                child.join(JOIN_TIMEOUT_S)

    def start(self) -> None:
        """Start the child now rather than at the first batch (starting Python and importing
        what it needs takes a few tenths of a second). Spawned, not forked: the processor has
        librdkafka's and psycopg's threads running, whose locks a forked child could inherit
        held."""
        if self._conn is not None:
            return
        context = multiprocessing.get_context("spawn")
        parent, child_end = context.Pipe()
        child = context.Process(
            target=serve, args=(child_end, self._args), name="cdp-seal", daemon=True
        )
        child.start()
        child_end.close()
        self._conn, self._child = parent, child

    def _failed(self, exc: BaseException) -> None:
        SEAL_FALLBACKS.inc()
        log.warning(
            "processor: the sealing process failed (%s: %s); this batch is sealed here and "
            "a new process starts with the next",
            type(exc).__name__,
            exc,
        )
        if self._child is not None:
            self._child.kill()
        self.close()
