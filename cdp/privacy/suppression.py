"""Suppression: identifiers whose events are never collected again, as keyed hashes.

The processor asks `Suppressor.drop` for every batch before deduplication, so a suppressed
person's events leave no trace at all (not even their messageIds). The hashes are cached in the
processor and checked per batch with one count (an index-only scan of a small table), so a batch
with no new suppressions costs one round trip and, while nobody is suppressed, no hashing.
The query runs in the batch's transaction (read committed): a suppression committed before the
batch's first statement is always seen, which is what a deletion job relies on (it commits its
suppressions before it deletes, see `cdp.privacy.service`).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from psycopg import Connection

from cdp.identity import Identifier, IdentityRules, extract_identifiers
from cdp.privacy.hashing import Hasher
from cdp.privacy.observability import SUPPRESSED_EVENTS

if TYPE_CHECKING:
    from cdp.profiles.events import InEvent

__all__ = ["Suppressor", "add_suppressions", "suppressed_events"]


class Suppressor:
    """Drops the events of suppressed identifiers; one per processor."""

    def __init__(self, key: bytes, rules: IdentityRules, *, prehashed: bool = False) -> None:
        """`prehashed`: the events' extracted identifiers are already their keyed hashes under
        `key` (the match values of PII at rest, `PiiCodec.match`), so they are not hashed again."""
        self._hash = Hasher(key)
        self._rules = rules
        self._hashes: set[str] = set()
        self._prehashed = prehashed

    def refresh(self, conn: Connection[Any]) -> None:
        """Reload the hashes when their number changed. Suppressions are never removed and
        hashes are unique, so the count tells; ids cannot, as they are not committed in order."""
        row = conn.execute("SELECT count(*) FROM privacy_suppressions").fetchone()
        if row is not None and int(row[0]) != len(self._hashes):
            rows = conn.execute("SELECT id_hash FROM privacy_suppressions").fetchall()
            self._hashes = {r[0] for r in rows}

    def matching(self, identifiers: list[Identifier], *, hashed: bool = False) -> str | None:
        """The hash of the first suppressed identifier among `identifiers` (their values
        already hashed if `hashed`), or None."""
        if not self._hashes:
            return None
        for identifier in identifiers:
            digest = identifier.value if hashed else self._hash(identifier)
            if digest in self._hashes:
                return digest
        return None

    def drop(self, conn: Connection[Any], events: list[InEvent]) -> list[InEvent]:
        """`events` without those carrying a suppressed identifier; the dropped ones are
        counted (metric, and a `privacy_drops` row per hash in the caller's transaction)."""
        self.refresh(conn)
        if not self._hashes or not events:
            return events
        kept: list[InEvent] = []
        dropped: Counter[str] = Counter()
        for event in events:
            ids = event.identifiers
            hashed = self._prehashed
            if ids is None:
                ids = extract_identifiers(event.as_identity_input(), self._rules)
                hashed = False
            digest = self.matching(ids, hashed=hashed)
            if digest is None:
                kept.append(event)
            else:
                dropped[digest] += 1
        if dropped:
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO privacy_drops (id_hash, events) VALUES (%s, %s)",
                    sorted(dropped.items()),
                )
            SUPPRESSED_EVENTS.inc(dropped.total())
        return kept


def add_suppressions(conn: Connection[Any], hashes: set[str], request_id: int) -> int:
    """Suppress `hashes` (those already suppressed stay as they are); how many were new."""
    if not hashes:
        return 0
    rows = conn.execute(
        "INSERT INTO privacy_suppressions (id_hash, request_id) "
        "SELECT h, %s FROM unnest(%s::text[]) AS h ORDER BY h ON CONFLICT DO NOTHING RETURNING id",
        (request_id, sorted(hashes)),
    ).fetchall()
    return len(rows)


def suppressed_events(conn: Connection[Any], id_hash: str | None = None) -> int:
    """How many events the processor dropped as suppressed (for one hash, or in all)."""
    if id_hash is None:
        row = conn.execute("SELECT coalesce(sum(events), 0) FROM privacy_drops").fetchone()
    else:
        row = conn.execute(
            "SELECT coalesce(sum(events), 0) FROM privacy_drops WHERE id_hash = %s", (id_hash,)
        ).fetchone()
    return int(row[0]) if row else 0
