"""Delivery counts of one destination, kept in memory and written to Postgres after each batch."""

from __future__ import annotations

from dataclasses import dataclass, field

from psycopg import AsyncConnection

from cdp.activation.destinations.metrics import DELIVERIES, RETRYING

__all__ = ["StatusRecorder"]


FLUSH = (
    "INSERT INTO destination_status AS s (destination, delivered, aborted, suppressed, "
    "retrying, last_error, last_error_at) VALUES (%s, %s, %s, %s, %s, %s, "
    "CASE WHEN %s::text IS NULL THEN NULL ELSE now() END) "
    "ON CONFLICT (destination) DO UPDATE SET delivered = s.delivered + excluded.delivered, "
    "aborted = s.aborted + excluded.aborted, suppressed = s.suppressed + excluded.suppressed, "
    "retrying = excluded.retrying, "
    "last_error = coalesce(excluded.last_error, s.last_error), "
    "last_error_at = coalesce(excluded.last_error_at, s.last_error_at), updated_at = now()"
)


@dataclass
class StatusRecorder:
    """Counts since the last flush, the number of changes waiting to retry, and the last error."""

    destination: str
    delivered: int = 0
    aborted: int = 0
    suppressed: int = 0
    retrying: int = 0
    last_error: str | None = None
    _dirty: bool = field(default=False, repr=False)

    def finished(self, outcome: str, n: int = 1) -> None:
        """`n` changes ended as `outcome` (delivered, aborted or suppressed)."""
        setattr(self, outcome, getattr(self, outcome) + n)
        DELIVERIES.labels(self.destination, outcome).inc(n)
        self._dirty = True

    def retry_started(self, error: str) -> None:
        self.retrying += 1
        self.last_error = error
        RETRYING.labels(self.destination).set(self.retrying)
        self._dirty = True

    def retry_ended(self) -> None:
        self.retrying -= 1
        RETRYING.labels(self.destination).set(self.retrying)
        self._dirty = True

    def error(self, message: str) -> None:
        self.last_error = message
        self._dirty = True

    async def flush(self, conn: AsyncConnection) -> None:
        """Add the counts to the destination's row; counts made while writing are kept for later."""
        if not self._dirty:
            return
        taken = (self.delivered, self.aborted, self.suppressed)
        error = self.last_error
        self.delivered = self.aborted = self.suppressed = 0
        self.last_error = None
        self._dirty = False
        try:
            await conn.execute(FLUSH, (self.destination, *taken, self.retrying, error, error))
        except BaseException:
            self.delivered += taken[0]
            self.aborted += taken[1]
            self.suppressed += taken[2]
            self.last_error = self.last_error or error
            self._dirty = True
            raise
