"""Delivering a batch of membership changes to one destination.

Within a batch the changes are filtered to the destination's segments, gated by consent, grouped
by profile and sent: one profile's changes one after another in offset order (order per profile is
kept), different profiles concurrently up to the channel's concurrency. Every change ends delivered,
aborted (dead-lettered with the reason) or suppressed; the batch returns only then, so the offsets
the agent commits after it cover finished work only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from psycopg import AsyncConnection

from cdp.activation.destinations import attempts, consent, grants
from cdp.activation.destinations.config import Destination
from cdp.activation.destinations.errors import DeliveryFailed, DeliveryRetryable
from cdp.activation.destinations.metrics import ATTEMPTS
from cdp.activation.destinations.payload import Change, render
from cdp.activation.destinations.ratelimit import TokenBucket
from cdp.activation.destinations.retry import deliver_with_retries
from cdp.activation.destinations.status import StatusRecorder
from cdp.privacy.atrest import PiiCodec

__all__ = ["DeadLetterSink", "Deliverer", "Send"]

log = logging.getLogger(__name__)

#: The reason of the exits the consent sweep sends.
REVOKED = "consent_revoked"

#: The codec of a deliverer given none: identifiers and traits are read as they are stored.
CLEAR = PiiCodec(None, b"clear", ())

Send = Callable[[Change, bytes], Awaitable[None]]
"""Send one rendered change once; raises `DeliveryRetryable` or `DeliveryFailed`."""

DeadLetterSink = Callable[[Change, bytes, DeliveryFailed], Awaitable[None]]
"""Put an aborted change on the activation dead-letter topic; returns once the broker has it."""


class Deliverer:
    """Delivers batches of changes to one destination; one instance per destination."""

    def __init__(
        self,
        destination: Destination,
        send: Send,
        dead_letter: DeadLetterSink,
        conn: AsyncConnection,
        concurrency: int = 16,
        pii: PiiCodec = CLEAR,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.destination = destination
        self.status = StatusRecorder(destination.name)
        self._send = send
        self._dead_letter = dead_letter
        self._conn = conn
        self._segments = frozenset(destination.segments)
        self._bucket = TokenBucket(destination.rate_limit)
        self._concurrency = concurrency
        self._pii = pii
        self._clock = clock
        self._lock = asyncio.Lock()

    async def deliver(self, changes: Sequence[Change]) -> None:
        """Deliver every change of the destination's segments in `changes` (in offset order)."""
        async with self._lock:
            wanted = [c for c in changes if c.segment in self._segments]
            passed = await self._gate(wanted)
            if len(passed) < len(wanted):
                self.status.finished("suppressed", len(wanted) - len(passed))
            done = await self._send_all(passed)
            await self._track_members(wanted, done)
            await self.status.flush(self._conn)

    async def sweep_consent(self) -> int:
        """Send an exit for every held profile whose consent was revoked, and an entry for every
        pending one whose consent is now complete while it is still a member; how many were sent.

        A revoked profile becomes pending (a later grant re-enters it); a pending one whose entry
        was aborted (dead-lettered) stops waiting, as every change ends once.
        """
        purposes = self.destination.consent
        if not purposes:
            return 0
        async with self._lock:
            name = self.destination.name
            revoked = await consent.revoked_members(self._conn, name, purposes)
            now = datetime.now(UTC)
            exits = [
                Change(
                    r.change_id, r.segment, r.version, r.profile_id, "exited", now, {}, [], REVOKED
                )
                for r in revoked
            ]
            await self._send_all(exits)
            pairs = [(c.segment, c.profile_id) for c in exits]
            await consent.forget_members(self._conn, name, pairs)
            await consent.remember_pending(
                self._conn, name, [(c.segment, c.profile_id, c.change_id) for c in exits]
            )
            entries = await grants.granted_entries(self._conn, name, purposes, self._pii)
            done = await self._send_all(entries)
            await self._track_members(entries, done)
            aborted = [(c.segment, c.profile_id) for c in entries if not done[c.change_id]]
            await consent.forget_pending(self._conn, name, aborted)
            await self.status.flush(self._conn)
            return len(exits) + len(entries)

    async def prune(self) -> None:
        """Housekeeping for the sweep timer: drop retry histories left behind by a crash, and
        pending pairs the destination will never deliver (`consent.prune_pending`)."""
        name = self.destination.name
        await attempts.prune_attempts(self._conn, name, self.destination.retry.max_age_s)
        await consent.prune_pending(
            self._conn, name, self.destination.consent, self.destination.segments
        )

    def use_connection(self, conn: AsyncConnection) -> None:
        """Use `conn` from now on (after the previous one broke)."""
        self._conn = conn

    async def flush_status(self) -> None:
        await self.status.flush(self._conn)

    async def _gate(self, changes: list[Change]) -> list[Change]:
        """The changes the destination may get: entries of consenting profiles, exits it holds."""
        purposes = self.destination.consent
        if not purposes:
            return changes
        name = self.destination.name
        granted = await consent.granted_profiles(
            self._conn, purposes, (c.profile_id for c in changes if c.entered)
        )
        held = await consent.held_members(
            self._conn, name, ((c.segment, c.profile_id) for c in changes if not c.entered)
        )
        out = []
        for change in changes:
            pair = (change.segment, change.profile_id)
            if change.entered and change.profile_id in granted:
                held.add(pair)
                out.append(change)
            elif not change.entered and pair in held:
                held.discard(pair)
                out.append(change)
        return out

    async def _send_all(self, changes: list[Change]) -> dict[str, bool]:
        """Send per profile in order, profiles concurrently; change id -> delivered."""
        groups: dict[int, list[Change]] = {}
        for change in changes:
            groups.setdefault(change.profile_id, []).append(change)
        done: dict[str, bool] = {}
        gate = asyncio.Semaphore(self._concurrency)

        async def one_profile(group: list[Change]) -> None:
            async with gate:
                for change in group:
                    done[change.change_id] = await self._one(change)

        await asyncio.gather(*(one_profile(g) for g in groups.values()))
        return done

    async def _one(self, change: Change) -> bool:
        """Deliver one change with retries; False if it was aborted (and dead-lettered)."""
        name = self.destination.name
        body = render(change, self.destination.traits)
        waiting = False

        def on_retry(_number: int, exc: DeliveryRetryable, _wait: float) -> None:
            nonlocal waiting
            ATTEMPTS.labels(name, "retryable").inc()
            if waiting:
                self.status.error(str(exc))
            else:
                self.status.retry_started(str(exc))
                waiting = True

        async def attempt() -> None:
            await self._bucket.acquire()
            await self._send(change, body)

        recorded = False

        async def history(started: float, count: int) -> tuple[float, int]:
            nonlocal recorded
            recorded = True
            return await attempts.record_failure(self._conn, name, change, started, count)

        try:
            await deliver_with_retries(
                attempt, self.destination.retry, on_retry, self._clock, history=history
            )
        except DeliveryFailed as exc:
            ATTEMPTS.labels(name, "terminal").inc()
            log.warning("destination %s: change %s aborted: %s", name, change.change_id, exc)
            self.status.error(str(exc))
            await self._dead_letter(change, body, exc)
            self.status.finished("aborted")
            if recorded:
                await attempts.forget_attempts(self._conn, name, change.change_id)
            return False
        finally:
            if waiting:
                self.status.retry_ended()
        if recorded:
            await attempts.forget_attempts(self._conn, name, change.change_id)
        ATTEMPTS.labels(name, "ok").inc()
        self.status.finished("delivered")
        return True

    async def _track_members(self, wanted: list[Change], done: dict[str, bool]) -> None:
        """For consent-gated destinations, record where each (segment, profile) of `wanted`
        ended: held (entry delivered), pending (entry held back for want of consent) or gone
        (exit)."""
        if not self.destination.consent:
            return
        final = member_states(wanted, done)
        held = [p for p, (state, _) in final.items() if state == HELD]
        pending = [(*p, ref) for p, (state, ref) in final.items() if state == PENDING]
        gone = [p for p, (state, _) in final.items() if state == GONE]
        name = self.destination.name
        await consent.remember_members(self._conn, name, held)
        await consent.forget_members(self._conn, name, gone)
        await consent.forget_pending(self._conn, name, held + gone)
        await consent.remember_pending(self._conn, name, pending)


HELD, PENDING, GONE = "held", "pending", "gone"


def member_states(
    changes: Sequence[Change], done: dict[str, bool]
) -> dict[tuple[str, int], tuple[str, str]]:
    """Where each (segment, profile) of `changes` (in offset order) ends, with the id of the
    change that put it there. `done` holds the sent changes (change id -> delivered); an entry
    not in it was held back by the gate, an aborted entry leaves its pair as it was."""
    final: dict[tuple[str, int], tuple[str, str]] = {}
    for change in changes:
        pair = (change.segment, change.profile_id)
        if not change.entered:
            final[pair] = (GONE, change.change_id)
        elif change.change_id not in done:
            final[pair] = (PENDING, change.change_id)
        elif done[change.change_id]:
            final[pair] = (HELD, change.change_id)
    return final
